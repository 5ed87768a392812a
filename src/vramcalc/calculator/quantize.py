"""Per-tensor type choice for a target format.

Most formats say everything in registry data: which tensors they quantize (`quantizes`, `quantize_embeddings`,
`quantize_lm_head`) and what the rest is stored in (`keep_dtype`). Code here holds only the rules a tool applies
that data cannot express:

- llama.cpp `llama-quantize` mixes: the type of each tensor follows `llama_tensor_get_type` in
  `src/llama-quant.cpp` (ggml-org/llama.cpp, read at commit 007dbbf, 2026: the CURRENT rules — its fallback for
  Q2_K/Q3_K rows not divisible by 256 is Q4_0, where 2025 code used IQ4_NL). The tensor walk is simulated as
  the tool does it: non-block tensors first, then blk.0, blk.1, … (names sorted within a block), counting
  attn_v-like and ffn_down tensors on the way.
- ONNX exports untie the LM head: the embedding table (Gather) and a separate LM head (MatMul) are both
  stored even when the Hugging Face model ties them (`plan_format` adds that tensor).
- GPTQ/AWQ-style quantizers touch only the decoder: a vision tower keeps its dtype.
- EXL2 stores the LM head at 6 bits (exllamav2 `convert.py` default `-hb 6`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from vramcalc.calculator.gguf_names import block_renumbering, gguf_name, gguf_name_map, layer_of, map_gguf_names
from vramcalc.calculator.weights import (
    TensorTypeChooser,
    default_chooser,
    plan_weights,
    source_groups,
    source_tensors,
)
from vramcalc.components import classify
from vramcalc.errors import RegistryError

if TYPE_CHECKING:  # the bare-count path (calculator/representative.py) uses the rules without any inventory
    from vramcalc.calculator.weights import WeightPlan
    from vramcalc.components import TensorClass
    from vramcalc.inventory import Groups, Inventory, TensorInfo
    from vramcalc.registry import FormatSpec, Registry

# llama.cpp's file types, their default tensor types, fallbacks and imatrix needs are registry data (formats.toml:
# gguf_mix base_type, gguf_type llama_ftype / file_type / file_type_default / fallback / needs_imatrix); the rules
# below are llama-quantize's code. These file types take the low-bit IQ branch of llama_tensor_get_type:
_LOW_IQ = {"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"}


@dataclass(frozen=True)
class LlamaTypes:
    """What llama-quantize knows of the registry's GGUF types: file type → default tensor type, block sizes, the
    fallback of each type, and the file types that need an importance matrix."""

    defaults: dict[str, str]
    blocks: dict[str, int]
    fallback: dict[str, str]
    imatrix: frozenset[str]


@lru_cache(maxsize=8)
def llama_types(registry: Registry) -> LlamaTypes:
    defaults: dict[str, str] = {}
    for spec in registry.formats:
        ftype = llamacpp_ftype(spec)
        if ftype is not None:
            default = spec.base_type if spec.family == "gguf_mix" else spec.file_type_default or spec.name
            defaults[ftype] = str(default).upper()
    blocks = {s.name.upper(): s.block_size or 1 for s in registry.formats
              if s.family == "gguf_type" or s.ggml_type is not None}
    blocks.update({"F32": 1, "F16": 1, "BF16": 1})
    return LlamaTypes(
        defaults=defaults, blocks=blocks,
        fallback={s.name.upper(): s.fallback.upper() for s in registry.formats if s.fallback},
        imatrix=frozenset(f for s in registry.formats if s.needs_imatrix and (f := llamacpp_ftype(s))),
    )


# A type choice meaning "left as the source stores it" (rows that no block of the type or its fallback divides).
KEEP_AS_STORED = "as stored"

# Substrings that keep a ≥2-D weight out of quantization (`tensor_allows_quantization`).
_NOT_QUANTIZED = (
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight", "time_mix_first.weight",
    "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
    "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
    "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
)
_NOT_QUANTIZED_EXACT = ("position_embd.weight", "token_types.weight")



@dataclass(frozen=True)
class LlamaHParams:
    """The hyper-parameters llama.cpp's type rules read."""

    arch: str
    n_layer: int
    n_head: int = 1
    n_head_kv: int = 1
    n_expert: int = 0

    @property
    def n_gqa(self) -> int:
        return self.n_head // self.n_head_kv if self.n_head_kv > 0 else 0

    @property
    def is_70b(self) -> bool:
        # llama-model.cpp: LLaMA with 80 layers is "70B" when it uses GQA (else 65B).
        return self.arch == "llama" and self.n_layer == 80 and self.n_head != self.n_head_kv


def _first_int(v: Any) -> int | None:
    if isinstance(v, list):
        v = next((x for x in v if x), v[0] if v else None)
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def hparams_from_inventory(inventory: Inventory) -> LlamaHParams:
    """From config.json keys (a `text_config` wins for multimodal models) or GGUF metadata."""
    meta = inventory.metadata or {}
    arch = meta.get("general.architecture") if inventory.kind == "gguf" else None
    if isinstance(arch, str):
        def g(key: str) -> int | None:
            return _first_int(meta.get(f"{arch}.{key}"))

        n_layer = g("block_count") or _count_layers(inventory)
        return LlamaHParams(arch, n_layer, g("attention.head_count") or 1,
                            g("attention.head_count_kv") or g("attention.head_count") or 1, g("expert_count") or 0)
    from vramcalc.architecture_helpers import architecture_of

    model, _ = architecture_of(inventory)
    if model is None or not model.layers:  # no readable config: the layers the tensor names show
        return LlamaHParams(str((inventory.config or {}).get("model_type") or ""), _count_layers(inventory))
    first = model.layers[0]
    # the llama.cpp architecture its converter writes (Mistral → llama), where the type rules depend on it
    return LlamaHParams(model.family.llamacpp_arch or model.model_type, model.num_layers, first.num_heads,
                        first.num_kv_heads, int(model.num_experts or 0))


def _count_layers(inventory: Inventory) -> int:
    # names mapped a group at a time: a per-name cache would overflow on a large checkpoint and miss every time
    names = map_gguf_names(([t.name for t in alike] for alike in inventory.groups.values()), "")
    layers = {n.layer if n.layer is not None else -1 for n in names.values() if n is not None}
    return max(layers, default=-1) + 1


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _category(name: str) -> str:
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for key, cat in (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"), ("attn_v.weight", "attn_v"),
                     ("attn_k.weight", "attn_k"), ("attn_q.weight", "attn_q"), ("attn_output.weight", "attn_output"),
                     ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"), ("ffn_down", "ffn_down")):
        if key in name:
            return cat
    return "other"


def _allows_quantization(name: str, n_dims: int) -> bool:
    if n_dims < 2 or not name.endswith("weight"):
        return False
    return not any(s in name for s in _NOT_QUANTIZED) and name not in _NOT_QUANTIZED_EXACT


@dataclass
class GGUFTensor:
    """A tensor as llama-quantize sees it (experts already merged into one 3-D tensor)."""

    name: str
    ne0: int
    n_dims: int
    ne2: int = 1


@dataclass(frozen=True)
class GGUFWalk:
    """llama-quantize's walk over a model's tensors, the same for every file type: the tensors in its order, each
    with its category, block index and whether it may be quantized at all (worked out once per model, not per
    format: a model whose every tensor is its own GGUF tensor walks a million of them per format)."""

    order: list[GGUFTensor]
    categories: list[str]
    layers: dict[str, int]
    allowed: list[bool]

    @classmethod
    def of(cls, tensors: list[GGUFTensor]) -> GGUFWalk:
        layers = {t.name: layer_of(t.name) for t in tensors}
        order = sorted(tensors, key=lambda t: (layers[t.name], t.name))
        return cls(order, [_category(t.name) for t in order], layers,
                   [_allows_quantization(t.name, t.n_dims) for t in order])


class LlamaQuantRules:
    """`llama_tensor_get_type` for one file type, walking the tensors in llama.cpp's order."""

    def __init__(self, ftype: str, hp: LlamaHParams, types: LlamaTypes, imatrix: bool | None = None):
        self.ftype = ftype
        if self.ftype not in types.defaults:
            raise RegistryError(f"{ftype!r} is not a llama.cpp file type",
                                f"choose one of {', '.join(sorted(types.defaults))}")
        self.default = types.defaults[self.ftype]
        self.hp = hp
        self.block = types.blocks
        self.fallbacks = types.fallback
        self.imatrix = self.ftype in types.imatrix if imatrix is None else imatrix

    def blck(self, type_name: str) -> int:
        if type_name not in self.block:
            raise RegistryError(f"ggml type {type_name} is not in the format registry",
                                f"add a gguf_type entry named {type_name} to a --formats file (layout: ggml-common.h)")
        return self.block[type_name]

    def types(self, tensors: list[GGUFTensor], walk: GGUFWalk | None = None) -> dict[str, str | None]:
        """ggml type per tensor name; None = not quantized (kept as converted: F32 for norms and routers). `walk`:
        the tensors' GGUFWalk, where the caller keeps one for several file types."""
        walk = walk or GGUFWalk.of(tensors)
        self.unconverted: list[str] = []
        self.layers = walk.layers
        self.tied = "output.weight" not in walk.layers
        self.n_attn_v = sum(c in ("attn_v", "attn_qkv", "attn_kv_b") for c in walk.categories)
        self.n_ffn = self.hp.n_layer
        self.i_attn_v = self.i_ffn_down = self.i_ffn_gate = self.i_ffn_up = 0
        out: dict[str, str | None] = {}
        quantized = self._is_quantized(self.default)
        for t, cat, allowed in zip(walk.order, walk.categories, walk.allowed, strict=True):
            if not allowed:
                out[t.name] = None
                continue
            new = self._impl(t, cat) if quantized else self.default
            out[t.name] = self._fallback(t, new)
        return out

    @staticmethod
    def _is_quantized(type_name: str) -> bool:
        return type_name not in ("F32", "F16", "BF16", KEEP_AS_STORED)

    def _fallback(self, t: GGUFTensor, new: str) -> str:
        if not self._is_quantized(new) or t.ne0 % self.blck(new) == 0:
            return new
        if new not in self.fallbacks:
            # llama-quantize defines no fallback for this type (it would stop); the converters that write such
            # files leave the tensor unconverted instead: stable-diffusion.cpp's tensor_should_be_converted
            # skips rows that are not a block multiple, convert_hf_to_gguf.py falls back to F16.
            self.unconverted.append(t.name)
            return KEEP_AS_STORED
        alt = self.fallbacks[new]
        return alt if t.ne0 % self.blck(alt) == 0 else "F16"

    def _layer(self, t: GGUFTensor, counter: int) -> int:
        # With experts the converter's tensor order is not by layer: llama.cpp reads the layer from the name.
        return self.layers[t.name] if max(1, self.hp.n_expert) > 1 else counter

    def _impl(self, t: GGUFTensor, cat: str) -> str:  # noqa: C901 - one branch per llama.cpp rule
        f, hp, new = self.ftype, self.hp, self.default
        attn_v_like = cat in ("attn_v", "attn_qkv", "attn_kv_b")
        if cat == "output" or (self.tied and cat == "token_embd"):
            if f in ("MXFP4_MOE", "NVFP4") or hp.arch == "falcon" or t.ne0 % self.blck(new) != 0:
                return "Q8_0"
            if f in ("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"):
                return "Q5_K"
            return "Q6_K" if new != "Q8_0" else new
        if f == "MXFP4_MOE":
            return "MXFP4" if t.ne2 > 1 else "Q8_0"
        if cat == "token_embd":
            if f in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
                return "Q2_K"
            if f in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
                return "IQ3_S"
            if f in ("TQ1_0", "TQ2_0", "Q2_0"):
                return "Q4_K"
            return new
        if f in _LOW_IQ:
            if attn_v_like:
                self.i_attn_v += 1
                if hp.n_gqa >= 4 or hp.n_expert >= 4:
                    return "Q4_K"
                return "IQ3_S" if f in ("IQ2_S", "IQ2_M") else "Q2_K"
            if hp.n_expert == 8 and cat == "attn_k":
                return "Q4_K"
            if cat == "ffn_down":
                if self.i_ffn_down < self.n_ffn // 8:
                    new = "IQ3_S" if f in ("IQ2_S", "IQ2_M") else "Q2_K"
                self.i_ffn_down += 1
                return new
            if cat == "attn_output":
                if hp.n_expert == 8:
                    return "Q5_K"
                if f in ("IQ1_S", "IQ1_M"):
                    return "IQ2_XXS"
                if f in ("IQ2_S", "IQ2_M"):
                    return "IQ3_S"
            return new
        if attn_v_like:
            i, n, gqa = self.i_attn_v, self.n_attn_v, hp.n_gqa
            if f == "Q2_K":
                new = "Q4_K" if gqa >= 4 else "Q3_K"
            elif f == "Q2_K_S" and gqa >= 4:
                new = "Q4_K"
            elif f == "IQ3_XXS":
                new = "Q4_K" if gqa >= 4 else ("IQ3_S" if not self.imatrix else "IQ3_XXS")
            elif f in ("IQ3_XS", "IQ3_S") and gqa >= 4:
                new = "Q4_K"
            elif f == "IQ3_M":
                new = "Q4_K"
            elif f == "Q3_K_M":
                new = "Q5_K" if i < 2 else "Q4_K"
            elif f == "Q3_K_L":
                new = "Q5_K"
            elif f in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
                new = "Q5_K"
            elif f in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n):
                new = "Q6_K"
            elif f == "Q4_K_S" and i < 4:
                new = "Q5_K"
            if hp.is_70b and new in ("Q3_K", "Q4_K"):
                # 8 heads share attn_v in the 70B: more bits cost almost nothing.
                new = "Q5_K"
            if hp.n_expert == 8:
                new = "Q8_0"
            self.i_attn_v += 1
            return new
        if cat == "attn_k":
            if hp.n_expert == 8:
                return "Q8_0"
            return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(f, new)
        if cat == "attn_q":
            return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(f, new)
        if cat == "ffn_down":
            i, n = self._layer(t, self.i_ffn_down), self.n_ffn
            falcon = hp.arch == "falcon"
            if f == "Q2_K":
                new = "Q3_K"
            elif f == "Q2_K_S":
                if i < n // 8:
                    new = "Q4_K"
            elif f == "IQ3_XXS" and not self.imatrix:
                new = "Q4_K" if i < n // 8 else "Q3_K"
            elif f == "Q3_K_M":
                new = "Q5_K" if i < n // 16 else ("Q4_K" if not falcon or _use_more_bits(i, n) else "Q3_K")
            elif f == "IQ3_M" and (i < n // 8 or (hp.n_expert == 8 and _use_more_bits(i, n))):
                new = "Q4_K"
            elif f == "Q3_K_L":
                new = "Q4_K" if falcon else "Q5_K"
            elif f == "Q4_K_M":
                if falcon:
                    new = "Q6_K" if i < n // 16 else ("Q5_K" if _use_more_bits(i, n) else "Q4_K")
                elif _use_more_bits(i, n):
                    new = "Q6_K"
            elif i < n // 8 and f in ("IQ4_NL", "IQ4_XS") and not self.imatrix:
                new = "Q5_K"
            elif f == "Q5_K_M" and _use_more_bits(i, n):
                new = "Q6_K"
            elif f == "Q4_K_S" and not falcon and i < n // 8:
                new = "Q5_K"
            elif f in ("Q4_0", "Q5_0") and self.imatrix and i < n // 8:
                new = "Q4_1" if f == "Q4_0" else "Q5_1"
            self.i_ffn_down += 1
            return new
        if cat == "attn_output":
            if hp.arch != "falcon":
                if hp.n_expert == 8:
                    if f in ("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M",
                             "IQ3_S", "IQ3_M", "IQ4_XS"):
                        new = "Q5_K"
                else:
                    new = {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K",
                           "IQ3_M": "Q4_K"}.get(f, new)
            elif f == "Q3_K_L":
                new = "Q4_K"
            return new
        if cat in ("ffn_gate", "ffn_up"):
            counter = self.i_ffn_gate if cat == "ffn_gate" else self.i_ffn_up
            i, n = self._layer(t, counter), self.n_ffn
            if f == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
                new = "IQ3_XXS"
            if cat == "ffn_gate":
                self.i_ffn_gate += 1
            else:
                self.i_ffn_up += 1
            return new
        return new


def llamacpp_ftype(spec: FormatSpec) -> str | None:
    """The llama.cpp file type a format stands for, or None when llama-quantize's rules do not apply: a mix, or a
    type llama-quantize takes as a file type (it has a llama_ftype id, or names one: Q4_K → Q4_K_M)."""
    if spec.family == "gguf_mix":
        return spec.name.upper()
    if spec.family == "gguf_type" and (spec.file_type or spec.llama_ftype is not None):
        return (spec.file_type or spec.name).upper()
    return None


def gguf_view(inventory: Inventory) -> tuple[list[GGUFTensor], dict[str, str]]:
    """The inventory as llama-quantize would see it after conversion: GGUF tensors, and each source tensor's
    GGUF name. Unmapped names are kept (they are quantized by the generic rules, as category "other")."""
    model_type = str((inventory.config or {}).get("model_type") or "")
    merged: dict[str, GGUFTensor] = {}
    names: dict[str, str] = {}
    sources = source_tensors(inventory)  # convert_hf_to_gguf dequantizes FP8 and MXFP4 sources first
    name_of = gguf_name_map(inventory, lambda: names_by_group(inventory), model_type)
    for t in sources:
        g = name_of[t.name]
        # a name mapped into a block is never the image encoder's: that goes to a separate mmproj GGUF
        if (g is None or g.name == t.name) and classify(t.name) in ("vision", "projector"):
            continue
        name = g.name if g else t.name
        names[t.name] = name
        n_dims = len(t.shape)
        if name in merged:
            merged[name].ne2 += 1
            merged[name].n_dims = max(merged[name].n_dims, 3)
            continue
        merged[name] = GGUFTensor(name, t.shape[-1] if t.shape else 1, n_dims,
                                  t.shape[0] if n_dims >= 3 else 1)
    return list(merged.values()), names


def names_by_group(inventory: Inventory) -> Iterable[list[str]]:
    """The source tensors' names, in groups alike but for their indices (what `gguf_name_map` reads)."""
    return ([t.name for t in alike] for alike in source_groups(inventory).values())


Parts = list[tuple[str | None, list["TensorInfo"]]]  # a group's tensors by the GGUF tensor each becomes


def gguf_layout(inventory: Inventory, groups: Groups) -> tuple[list[GGUFTensor], dict[int, Parts]] | None:
    """`gguf_view`'s tensors worked out a group of alike source tensors at a time, with each group's members by the
    GGUF tensor each becomes (None: none, the image encoder's), keyed by the id of the group's list. A group in a
    block splits by its block index alone (`block_renumbering`); the image encoder's class and a GGUF tensor's shape
    follow the group. None where two groups meet in one GGUF tensor (a pipeline's components with the same block
    names): which shape the merged tensor takes then follows the tensor order, and `gguf_view` walks it."""
    model_type = str((inventory.config or {}).get("model_type") or "")
    merged: dict[str, GGUFTensor] = {}
    parts_of: dict[int, Parts] = {}
    for members in groups.values():
        parts = _gguf_parts(members, model_type)
        for name, part in parts:
            if name is None:
                continue
            if name in merged:
                return None
            first, count = part[0], len(part)
            n_dims = len(first.shape)
            merged[name] = GGUFTensor(name, first.shape[-1] if first.shape else 1,
                                      max(n_dims, 3) if count > 1 else n_dims,
                                      (first.shape[0] if n_dims >= 3 else 1) + count - 1)
        parts_of[id(members)] = parts
    return list(merged.values()), parts_of


def _gguf_parts(members: list[TensorInfo], model_type: str) -> Parts:
    """A group's tensors by the GGUF tensor each becomes, in order."""
    renumber = block_renumbering(members[0].name, model_type)
    if renumber is not None:
        at, stem, _ = renumber
        by_index: dict[str, list[TensorInfo]] = {}
        for t in members:
            index = t.name.split(".", at + 1)[at]
            part = by_index.get(index)
            if part is None:
                by_index[index] = [t]
            else:
                part.append(t)
        return [(f"blk.{int(index)}.{stem}", part) for index, part in by_index.items()]
    vision = classify(members[0].name) in ("vision", "projector")
    parts: dict[str | None, list[TensorInfo]] = {}
    for t in members:
        g = gguf_name(t.name, model_type)
        # a name mapped into a block is never the image encoder's; an unmapped one keeps its own name
        name = g.name if g is not None and g.name != t.name else None if vision else t.name
        parts.setdefault(name, []).append(t)
    return list(parts.items())


class TensorChooser:
    """The type each tensor of an inventory gets in a target format (None: kept as stored / `keep_dtype`).

    `unconverted[format]` names the tensors a llama.cpp type could not hold (a row no block of the type or its
    fallback divides) and that stay as the source stores them."""

    def __init__(self, inventory: Inventory, registry: Registry) -> None:
        self.inventory, self.registry = inventory, registry
        self.base = default_chooser(registry)
        self.hp = hparams_from_inventory(inventory)
        self.cache: dict[str, tuple[dict[str, FormatSpec | None], frozenset[str]]] = {}
        self._by_src: dict[str, dict[str, FormatSpec | None]] = {}
        self._parts: dict[int, tuple[list[TensorInfo], list[tuple[str | None, list[TensorInfo]]]]] = {}
        self.unconverted: dict[str, list[str]] = {}
        self._view: tuple[list[GGUFTensor], dict[str, str]] | None = None
        self._layout: tuple[list[GGUFTensor], dict[int, Parts]] | None = None
        self._layout_done = False
        self._walk: GGUFWalk | None = None
        self._groups: Groups | None = None
        self._ftypes: dict[str, str | None] = {}
        self._dtype_of: dict[str, str] | None = None

    def _by_gguf(self, spec: FormatSpec, ftype: str) -> tuple[dict[str, FormatSpec | None], frozenset[str]]:
        """GGUF tensor name → the spec llama-quantize stores it in (cached per format), and the names it keeps as
        the source stores them: one answer per GGUF tensor (an MoE layer's experts are one), not per source tensor."""
        if spec.name in self.cache:
            return self.cache[spec.name]
        registry = self.registry
        if self._walk is None:
            layout = self._gguf_layout()
            self._walk = GGUFWalk.of(layout[0] if layout is not None else self._gguf_view()[0])
        rules = LlamaQuantRules(ftype, self.hp, llama_types(registry))
        types = rules.types(self._walk.order, self._walk)
        specs: dict[str, FormatSpec | None] = {KEEP_AS_STORED: None}
        for type_name in {t for t in types.values() if t is not None} - {KEEP_AS_STORED}:
            found = registry.find(type_name)
            if found is None:
                where = next(src for src, g in self._gguf_view()[1].items() if types.get(g) == type_name)
                raise RegistryError(f"ggml type {type_name} (chosen by llama.cpp for {where}) is not in the "
                                    "format registry", f"add a gguf_type entry named {type_name}")
            specs[type_name] = found
        spec_of = {g: specs[t] if t is not None else None for g, t in types.items()}
        keep = frozenset(g for g, t in types.items() if t == KEEP_AS_STORED)
        unconverted = set(rules.unconverted)
        self.unconverted[spec.name] = ([src for src, g in self._gguf_view()[1].items() if g in unconverted]
                                       if unconverted else [])
        self.cache[spec.name] = (spec_of, keep)
        return spec_of, keep

    def _gguf_view(self) -> tuple[list[GGUFTensor], dict[str, str]]:
        """Tensor by tensor, with every source name's GGUF name: for messages, per-tensor lookups, and where the
        layout by groups does not apply."""
        if self._view is None:
            self._view = gguf_view(self.inventory)
        return self._view

    def _gguf_layout(self) -> tuple[list[GGUFTensor], dict[int, Parts]] | None:
        if not self._layout_done:
            self._layout, self._layout_done = gguf_layout(self.inventory, self.source_groups()), True
        return self._layout

    def _kept(self, dtype: str) -> FormatSpec | None:
        return self.registry.for_storage_dtype(dtype) or self.registry.find("F16")

    def split(self, spec: FormatSpec, members: list[TensorInfo]
              ) -> list[tuple[FormatSpec | None, list[TensorInfo], tuple[tuple[str, int], ...]]]:
        """llama.cpp formats: a group's tensors by the type each gets, looked up once per GGUF tensor they make, with
        the GGUF tensors each part's members become (name, how many merge into it)."""
        ftype = self._ftype(spec)
        assert ftype is not None, "split is for llama.cpp formats (per_tensor)"
        spec_of, keep = self._by_gguf(spec, ftype)
        out: dict[str, tuple[FormatSpec | None, list[TensorInfo], dict[str, int]]] = {}
        for g, part in self._partition(members):
            if g in keep:  # as the source file stores each one (a GGUF's Q4_K stays Q4_K)
                dtypes = self._dtypes()
                for t in part:
                    kept = self._kept(dtypes.get(t.name, ""))
                    entry = out.setdefault(kept.name if kept else "", (kept, [], {}))
                    entry[1].append(t)
                    entry[2][g] = entry[2].get(g, 0) + 1
                continue
            target = spec_of.get(g) if g is not None else None
            entry = out.setdefault(target.name if target else "", (target, [], {}))
            entry[1].extend(part)
            for name in [g] if g is not None else [t.name for t in part]:  # no GGUF tensor: each keeps its name
                entry[2][name] = entry[2].get(name, 0) + (len(part) if g is not None else 1)
        return [(target, alike, tuple(counts.items())) for target, alike, counts in out.values()]

    def _partition(self, members: list[TensorInfo]) -> list[tuple[str | None, list[TensorInfo]]]:
        """A group's tensors by the GGUF tensor each becomes (None: none, e.g. a vision tower's), in order; the same
        for every format, so worked out once per group (the cache holds the group: its id is not reused)."""
        layout = self._gguf_layout()
        if layout is not None and id(members) in layout[1]:  # a source group (the layout holds them all)
            return layout[1][id(members)]
        hit = self._parts.get(id(members))
        if hit is not None:
            return hit[1]
        names = self._gguf_view()[1]
        parts: dict[str | None, list[TensorInfo]] = {}
        for t in members:
            parts.setdefault(names.get(t.name), []).append(t)
        self._parts[id(members)] = (members, list(parts.items()))
        return self._parts[id(members)][1]

    def _llamacpp(self, spec: FormatSpec, ftype: str) -> dict[str, FormatSpec | None]:
        """Source tensor name → the spec llama-quantize stores it in, for every tensor (one tensor's lookups)."""
        if spec.name in self._by_src:
            return self._by_src[spec.name]
        spec_of, keep = self._by_gguf(spec, ftype)
        names = self._gguf_view()[1]
        out = {src: spec_of.get(g) for src, g in names.items()}
        if keep:  # priced as the source stores them
            dtypes = self._dtypes()
            for src, g in names.items():
                if g in keep:
                    out[src] = self._kept(dtypes.get(src, ""))
        self._by_src[spec.name] = out
        return out

    def _ftype(self, spec: FormatSpec) -> str | None:
        if spec.name not in self._ftypes:
            self._ftypes[spec.name] = llamacpp_ftype(spec)
        return self._ftypes[spec.name]

    def _dtypes(self) -> dict[str, str]:
        if self._dtype_of is None:
            self._dtype_of = {t.name: t.dtype for t in self.inventory.tensors}
        return self._dtype_of

    def source_groups(self) -> Groups:
        """The inventory's source tensors (as a converter sees them) grouped alike, once for every format."""
        if self._groups is None:
            self._groups = source_groups(self.inventory)
        return self._groups

    def per_tensor(self, spec: FormatSpec) -> bool:
        """llama-quantize's rules treat tensors of different layers apart (Q4_K_M's attn_v, ffn_down)."""
        return self._ftype(spec) is not None

    def __call__(self, spec: FormatSpec, tensor: TensorInfo, cls: TensorClass) -> FormatSpec | None:
        ftype = self._ftype(spec)
        if ftype is not None:
            return self._llamacpp(spec, ftype).get(tensor.name)
        if spec.decoder_only and cls in ("vision", "projector"):
            return None
        if spec.family == "exl2" and cls == "lm_head" and len(tensor.shape) >= 2:
            return spec.with_options(bits=EXL2_HEAD_BITS)
        return self.base(spec, tensor, cls)


def tensor_chooser(inventory: Inventory, registry: Registry) -> TensorChooser:
    """The type each tensor of `inventory` gets in a target format (None: kept as stored / `keep_dtype`)."""
    return TensorChooser(inventory, registry)


EXL2_HEAD_BITS = 6  # exllamav2 convert.py `-hb` default

_TOKEN_EMBED = re.compile(r"(embed_tokens|(^|\.)wte|word_embeddings|tok_embeddings|^token_embd)\.weight$")


def untied_lm_head(inventory: Inventory) -> TensorInfo | None:
    """The LM head an ONNX export stores on its own when the model ties it to the embedding table."""
    from vramcalc.inventory import TensorInfo

    if any(classify(t.name) == "lm_head" for t in inventory.tensors):
        return None
    emb = [t for t in inventory.tensors if _TOKEN_EMBED.search(t.name) and len(t.shape) == 2]
    if not emb:
        return None
    e = max(emb, key=lambda t: t.numel)
    return TensorInfo(name="lm_head.weight", dtype=e.dtype, shape=e.shape, nbytes=e.nbytes,
                      component=e.component)


def plan_format(
    inventory: Inventory, spec: FormatSpec, registry: Registry, chooser: TensorTypeChooser | None = None
) -> WeightPlan:
    """`plan_weights` plus what the target tool does to the tensor list itself: an ONNX export stores an
    untied LM head; a text GGUF leaves the vision tower to a separate mmproj file."""
    choose = chooser or tensor_chooser(inventory, registry)
    groups = (choose.source_groups() if isinstance(choose, TensorChooser) and choose.inventory is inventory
              else source_groups(inventory))
    if spec.family == "onnx":
        head = untied_lm_head(inventory)
        if head is not None:
            groups = {**groups, (head.name, head.dtype, head.shape, head.component): [head]}
    elif llamacpp_ftype(spec) is not None:
        groups = {k: v for k, v in groups.items() if classify(v[0].name) not in ("vision", "projector")}
    return plan_weights(inventory, spec, registry, choose, groups)


__all__ = [
    "KEEP_AS_STORED", "GGUFTensor", "GGUFWalk", "LlamaHParams", "LlamaQuantRules", "LlamaTypes", "TensorChooser",
    "gguf_layout", "gguf_view", "hparams_from_inventory", "llama_types", "llamacpp_ftype", "names_by_group",
    "plan_format", "tensor_chooser", "untied_lm_head",
]
