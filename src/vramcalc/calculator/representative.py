"""A representative dense decoder for a bare parameter count, and a llama.cpp mix priced on it.

A label such as `13B-Q4_K_M` names a count, not tensors, yet a llama.cpp mix stores each tensor in its own type
(`llama_tensor_get_type`): the output in Q6_K, half the attn_v and ffn_down in Q6_K … so its bits per weight
depend on the shapes. A bare count is priced on the decoder this module builds for it — the Llama 3 shape family
(heuristics.py, "bare counts"): Meta's head size, KV heads, FFN ratio and vocabulary, the depth interpolated
between Meta's released sizes, the width solved so that the decoder holds the count — with llama-quantize's rules
applied to its GGUF tensors. The count is then priced at that decoder's bits per weight.

Nothing here builds an Inventory (pydantic): the shapes go straight to llama-quantize's tensor view, so the
bare-count path stays a few milliseconds and keeps its imports light. The rule walk (a few hundred tensors per file
type; `estimate 12B` has six llama.cpp rows) is cached on disk next to the registry's cache, keyed by the source of
the rules, so a warm run neither walks nor imports them.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import log, sqrt
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from vramcalc.heuristics import (
    BARE_COUNT_FFN_RATIO,
    BARE_COUNT_HEAD_DIM,
    BARE_COUNT_KV_HEADS,
    BARE_COUNT_VOCAB,
    BARE_COUNT_WIDTH_STEP,
    LLAMA3_DEPTHS,
    Heuristic,
)

if TYPE_CHECKING:
    from vramcalc.calculator.quantize import GGUFTensor
    from vramcalc.registry import FormatSpec, Registry

# Heuristics a representative-decoder price rests on (shown by --explain).
HEURISTICS: tuple[Heuristic, ...] = (
    BARE_COUNT_VOCAB, BARE_COUNT_HEAD_DIM, BARE_COUNT_KV_HEADS, BARE_COUNT_FFN_RATIO, BARE_COUNT_WIDTH_STEP,
)
# File types whose rules speak of experts: on a dense decoder MXFP4_MOE would store everything in Q8_0.
_EXPERT_FTYPES = frozenset({"MXFP4_MOE"})


class DecoderShape(NamedTuple):  # a NamedTuple, not a dataclass: cheaper to define on the start-up path
    """A dense Llama-style decoder: GQA attention, gated MLP, RMSNorm, untied embedding and output. What a bare
    count stands for wherever shapes are needed (the KV cache needs n_layer, n_head_kv and head_dim; `config()`
    gives it as a config.json for the architecture path)."""

    n_layer: int
    hidden: int
    intermediate: int
    n_head: int
    n_head_kv: int
    head_dim: int
    vocab: int
    tied: bool = False

    @property
    def params(self) -> int:
        return sum(_numel(shape) for _, shape in self.tensors())

    def config(self) -> dict[str, Any]:
        """The decoder as a Hugging Face config.json (LlamaForCausalLM)."""
        return {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": self.hidden,
                "intermediate_size": self.intermediate, "num_hidden_layers": self.n_layer,
                "num_attention_heads": self.n_head, "num_key_value_heads": self.n_head_kv, "head_dim": self.head_dim,
                "vocab_size": self.vocab, "tie_word_embeddings": self.tied}

    def tensors(self) -> list[tuple[str, tuple[int, ...]]]:
        """GGUF tensor names and shapes ([out, in]: rows run along the last dimension), as convert_hf_to_gguf
        writes a Llama checkpoint."""
        h, q, kv = self.hidden, self.n_head * self.head_dim, self.n_head_kv * self.head_dim
        out: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (self.vocab, h)), ("output_norm.weight", (h,))]
        if not self.tied:
            out.append(("output.weight", (self.vocab, h)))
        for i in range(self.n_layer):
            b = f"blk.{i}."
            out += [
                (b + "attn_norm.weight", (h,)), (b + "attn_q.weight", (q, h)), (b + "attn_k.weight", (kv, h)),
                (b + "attn_v.weight", (kv, h)), (b + "attn_output.weight", (h, q)), (b + "ffn_norm.weight", (h,)),
                (b + "ffn_gate.weight", (self.intermediate, h)), (b + "ffn_up.weight", (self.intermediate, h)),
                (b + "ffn_down.weight", (h, self.intermediate)),
            ]
        return out

    def gguf_tensors(self) -> list[GGUFTensor]:
        from vramcalc.calculator.quantize import GGUFTensor

        return [GGUFTensor(name, shape[-1], len(shape)) for name, shape in self.tensors()]

    def describe(self) -> str:
        return (f"{self.n_layer} layers, hidden {self.hidden:,}, intermediate {self.intermediate:,}, "
                f"{self.n_head} heads of {self.head_dim} ({self.n_head_kv} KV), vocabulary {self.vocab:,} "
                f"({'tied' if self.tied else 'untied'} output), {self.params:,} parameters")


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def layers_for(n_params: int) -> int:
    """Depth for a count: log-log interpolation between Meta's Llama 3.x sizes (extended along the end segments
    below 1B and above 405B)."""
    pts = LLAMA3_DEPTHS
    x = log(max(n_params, 1))
    i = 0
    while i < len(pts) - 2 and x > log(pts[i + 1][0]):
        i += 1
    (p0, l0), (p1, l1) = pts[i], pts[i + 1]
    t = (x - log(p0)) / (log(p1) - log(p0))
    return max(1, round(float(l0 * (l1 / l0) ** t)))


def solve_width(n_params: int, n_layer: int) -> float:
    """The hidden size h at which a decoder of the family with `n_layer` layers holds exactly `n_params` weights:
    n = L·(2 + 3r)·h² + (2·kv·d·L + 2·V + 2·L + 1)·h — per layer attention 2h² + 2·kv·d·h, a gated MLP of
    3·r·h² and two norms; an untied embedding and output, and the final norm."""
    d, kv, vocab, ratio = (BARE_COUNT_HEAD_DIM.as_int(), BARE_COUNT_KV_HEADS.as_int(), BARE_COUNT_VOCAB.as_int(),
                           BARE_COUNT_FFN_RATIO.value)
    n = max(n_params, 0)
    a, b = n_layer * (2 + 3 * ratio), 2 * kv * d * n_layer + 2 * vocab + 2 * n_layer + 1
    h = (-b + sqrt(b * b + 4 * a * n)) / (2 * a)
    if h < kv * d:  # fewer than 8 heads: K and V as wide as the model
        a += 2 * n_layer
        b -= 2 * kv * d * n_layer
        h = (-b + sqrt(b * b + 4 * a * n)) / (2 * a)
    return h


def representative_decoder(n_params: int) -> DecoderShape:
    """The decoder of the Llama 3 shape family that holds about `n_params` weights: depth from `layers_for`, the
    width from `solve_width`, rounded to the width step (so every K-quant row divides, as in released models)."""
    n_layer = layers_for(n_params)
    d, kv_heads = BARE_COUNT_HEAD_DIM.as_int(), BARE_COUNT_KV_HEADS.as_int()
    ratio, step = BARE_COUNT_FFN_RATIO.value, BARE_COUNT_WIDTH_STEP.as_int()
    hidden = max(step, round(solve_width(n_params, n_layer) / step) * step)
    n_head = hidden // d
    return DecoderShape(
        n_layer=n_layer, hidden=hidden, intermediate=max(step, round(ratio * hidden / step) * step),
        n_head=n_head, n_head_kv=min(kv_heads, n_head), head_dim=d, vocab=BARE_COUNT_VOCAB.as_int(),
    )


class MixPrice(NamedTuple):
    """A llama.cpp file type priced on the representative decoder for a count."""

    ftype: str
    shape: DecoderShape  # the decoder llama-quantize's rules ran on (widths on the 256 step)
    hidden: float  # the width at which the decoder holds exactly the count (the bytes are priced at it)
    params: int
    nbytes: int
    types: dict[str, int]  # ggml type (F32: kept as converted) → parameters stored in it

    @property
    def bits_per_weight(self) -> Fraction:
        return Fraction(self.nbytes * 8, self.params) if self.params else Fraction(0)


def count_ftype(spec: FormatSpec) -> str | None:
    """The llama.cpp file type a bare count is priced by through the representative decoder, or None (priced at
    the format's own bits per weight: not a llama.cpp type, or a file type whose rules need experts)."""
    if spec.family not in ("gguf_mix", "gguf_type"):
        return None
    cache = _disk_cache()
    key = f"{spec.family}:{spec.name}"
    if key in cache["ftypes"]:
        ftype = cache["ftypes"][key]
    else:
        from vramcalc.calculator.quantize import llamacpp_ftype

        ftype = cache["ftypes"][key] = llamacpp_ftype(spec)
        _store(cache)
    return None if ftype is None or ftype in _EXPERT_FTYPES else str(ftype)


def price_ftype(n_params: int, ftype: str, registry: Registry) -> MixPrice:
    """llama-quantize's per-tensor types on the representative decoder for `n_params`, priced at the exact width
    (`solve_width`): each tensor's weights × its type's bits per weight (every row divides the type's block, so
    that is exact). Exact widths keep the price smooth in the count: rounded widths would move the embedding's
    share in steps, and a larger count could come out smaller."""
    shape = representative_decoder(n_params)
    h = solve_width(n_params, shape.n_layer)
    kv_width = min(shape.n_head_kv * shape.head_dim, h)
    ffn = BARE_COUNT_FFN_RATIO.value * h
    numel = {"token_embd.weight": shape.vocab * h, "output.weight": shape.vocab * h, "attn_q.weight": h * h,
             "attn_k.weight": kv_width * h, "attn_v.weight": kv_width * h, "attn_output.weight": h * h,
             "ffn_gate.weight": ffn * h, "ffn_up.weight": ffn * h, "ffn_down.weight": ffn * h}
    bits: dict[str, Fraction] = {}
    nbits, params = 0.0, 0.0
    by_type: dict[str, float] = {}
    for role, type_name, count in _rule_types(shape, ftype, registry):
        if type_name not in bits:
            bits[type_name] = registry.get(type_name).bits_per_weight
        weights = count * numel.get(role, h)  # 1-D tensors: the norms, h each
        nbits += weights * float(bits[type_name])
        params += weights
        by_type[type_name] = by_type.get(type_name, 0.0) + weights
    types = {t: round(w) for t, w in sorted(by_type.items(), key=lambda kv: -kv[1])}
    return MixPrice(ftype, shape, h, round(params), round(nbits / 8), types)


# The rule walk is the costly part (a few hundred tensors): one per (decoder, file type), shared by every count that
# rounds to that decoder. The block sizes are part of the key (a user's formats file may redefine a type).
@lru_cache(maxsize=256)
def _rule_types(shape: DecoderShape, ftype: str, registry: Registry) -> tuple[tuple[str, str, int], ...]:
    """(tensor role without its `blk.N.` prefix, ggml type, how many tensors) — F32 for what is not quantized."""
    blocks = _block_sizes(registry)
    cache = _disk_cache()
    key = f"{','.join(map(str, shape))}|{ftype}|{','.join(f'{k}={v}' for k, v in sorted(blocks.items()))}"
    hit = cache["types"].get(key)
    if isinstance(hit, list) and all(isinstance(x, list) and len(x) == 3 and isinstance(x[0], str) and x[1] in blocks
                                     and type(x[2]) is int and 0 <= x[2] <= 1 << 40 for x in hit):
        return tuple((role, t, c) for role, t, c in hit)
    out = _walk(shape, ftype, registry)
    cache["types"][key] = [list(x) for x in out]
    _store(cache)
    return out


@lru_cache(maxsize=8)
def _block_sizes(registry: Registry) -> dict[str, int]:
    blocks = {s.name.upper(): s.block_size or 1 for s in registry.formats
              if s.family == "gguf_type" or s.ggml_type is not None}
    blocks.update({"F32": 1, "F16": 1, "BF16": 1})
    return blocks


def _walk(shape: DecoderShape, ftype: str, registry: Registry) -> tuple[tuple[str, str, int], ...]:
    from vramcalc.calculator.quantize import LlamaHParams, LlamaQuantRules, llama_types

    hp = LlamaHParams("llama", shape.n_layer, shape.n_head, shape.n_head_kv)
    # 1-D tensors (norms) are never quantized and count toward no rule: the rules walk the matrices only.
    types: dict[str, str | None] = LlamaQuantRules(ftype, hp, llama_types(registry)).types(
        [t for t in shape.gguf_tensors() if t.n_dims >= 2])
    counts: dict[tuple[str, str], int] = {}
    for name, _ in shape.tensors():
        key = (name.split(".", 2)[2] if name.startswith("blk.") else name, types.get(name) or "F32")
        counts[key] = counts.get(key, 0) + 1
    return tuple((role, t, c) for (role, t), c in counts.items())


# --------------------------------------------------------------------------- the on-disk cache of rule walks

_CACHE: dict[str, Any] = {}
_MAX_ENTRIES = 2048  # a few hundred bytes each; past this the file starts over
_RULE_SOURCES = ("quantize.py", "gguf_names.py", "representative.py")  # what a walk's result depends on


def _cache_path() -> Path | None:
    """Beside the registry's cache (VRAMCALC_CACHE_DIR, "off" to disable); the name hashes the package version and
    the source of the rules and of this module, so a changed rule never reads an old walk."""
    from vramcalc.cache_files import cache_dir

    base = cache_dir()
    if base is None:
        return None
    import hashlib

    from vramcalc import __version__

    digest = hashlib.sha256(__version__.encode())
    try:
        for name in _RULE_SOURCES:
            digest.update((Path(__file__).with_name(name)).read_bytes())
    except OSError:  # sources not on disk (a zipped install): no cache
        return None
    return base / f"llamacpp-rules-{digest.hexdigest()[:32]}.json"


def _disk_cache() -> dict[str, Any]:
    """The cache, read once per process: {"types": {key: [[role, type, count], …]}, "ftypes": {family:name: ftype}}."""
    if not _CACHE:
        _CACHE.update(types={}, ftypes={}, path=_cache_path())
        data = _read_json(_CACHE["path"]) if _CACHE["path"] is not None else None
        if isinstance(data, dict) and isinstance(data.get("types"), dict) and isinstance(data.get("ftypes"), dict) \
                and all(v is None or isinstance(v, str) for v in data["ftypes"].values()):
            _CACHE.update(types=data["types"], ftypes=data["ftypes"])
    return _CACHE


_MAX_CACHE_BYTES = 8 << 20


def _read_json(path: Path) -> Any:
    """The cache file's data (JSON: whoever wrote it, reading it runs nothing), or None: missing, damaged, not a
    regular file, or too large."""
    from vramcalc.cache_files import read_cached

    data = read_cached(path, _MAX_CACHE_BYTES)
    if data is None:
        return None
    try:
        from pydantic_core import from_json  # loaded with the registry already; json would be one more import

        return from_json(data)
    except Exception:  # damaged: rebuilt
        return None


def _store(cache: dict[str, Any]) -> None:
    path = cache.get("path")
    if path is None:
        return
    from pydantic_core import to_json

    from vramcalc.cache_files import write_cached

    if len(cache["types"]) > _MAX_ENTRIES:
        cache["types"] = {}
    try:
        data = to_json({"types": cache["types"], "ftypes": cache["ftypes"]})
    except ValueError:
        return
    write_cached(path, data)  # read-only home, full disk: run uncached


def explain_price(label: str, n_params: int, price: MixPrice) -> list[str]:
    """--explain lines: the decoder, the types llama-quantize gives it, and the heuristics behind the shapes.
    Lines without the format's name are the same for every row of one count (the caller shows them once)."""
    from vramcalc.units import format_count

    anchors = ", ".join(f"{format_count(p)} → {n}" for p, n in LLAMA3_DEPTHS)
    types = ", ".join(f"{t} {format_count(n)} ({n / price.params:.1%})" for t, n in price.types.items())
    lines = [
        f"a bare count is priced on a representative decoder (Llama 3 shape family) for {n_params:,} parameters: "
        f"{price.shape.describe()}; bytes priced at the width that holds exactly the count "
        f"(hidden {price.hidden:,.1f}, intermediate {BARE_COUNT_FFN_RATIO.value * price.hidden:,.1f})",
        f"  depth: log-log interpolation of layers between Meta's Llama 3.x sizes ({anchors} layers; config.json "
        "on huggingface.co/meta-llama); width: solved so that the decoder holds the count",
        *(f"  {h.name} = {h.value:,g} {h.unit} — {h.source}" for h in HEURISTICS),
        f"{label}: llama-quantize's per-tensor types on that decoder (llama.cpp src/llama-quant.cpp, "
        f"llama_tensor_get_type): {types} → {price.nbytes:,} bytes for {price.params:,} parameters "
        f"= {float(price.bits_per_weight):.6g} bits per weight",
    ]
    return lines


__all__ = ["HEURISTICS", "DecoderShape", "MixPrice", "count_ftype", "explain_price", "layers_for", "price_ftype",
           "representative_decoder", "solve_width"]
