"""Predicted size of a GGUF FILE: header + metadata key/values + tensor infos + alignment padding + data.

Layout (llama.cpp `ggml/src/gguf.cpp`, `docs/gguf.md` in ggml-org/ggml):
  header 24 B (magic, version u32, tensor_count u64, kv_count u64)
  KV pairs: key (u64 length + bytes), value type i32, value
  tensor infos: name (u64 length + bytes), n_dims u32, ne i64 × n_dims, type i32, offset u64
  padding to `general.alignment` (default 32), then each tensor's data padded to the alignment.
File size = PAD(24 + Σ KV + Σ info) + Σ PAD(nbytes).

Tensor infos and padding are exact. The metadata is exact when the source IS a GGUF (its bytes before the
tensor data are reused: llama-quantize copies every key and rewrites two u32 values in place). From a
checkpoint or config it is estimated, and the estimate is dominated by the tokenizer, written by
`convert_hf_to_gguf.py` as arrays with one entry per vocabulary token (see `estimate_metadata`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vramcalc.calculator.gguf_names import GGUFName, gguf_name_map

if TYPE_CHECKING:
    from vramcalc.calculator.weights import WeightPlan
    from vramcalc.inventory import Inventory, TensorInfo
    from vramcalc.registry import FormatSpec, Registry

HEADER_BYTES = 24
DEFAULT_ALIGNMENT = 32

# Estimates for a tokenizer written from tokenizer.json (used only when the source is not a GGUF).
# Byte-level BPE (GPT-2 style, Llama 3, Qwen, Mistral Tekken) stores each token through the GPT-2 byte→unicode
# map: ASCII letters stay 1 byte, every other byte becomes a 2-byte UTF-8 character ("Ġ" for a space), so a
# typical token of 3–5 source bytes is ~7 bytes of string. Each token costs 8 (length) + string + 4 (i32
# token_type); BPE adds one "a b" merge string per merge rule (at least vocab − 256 rules; Llama 3 ships
# about 2× its vocabulary). SentencePiece (Gemma, Llama 2, Mistral v0.1, Phi-3) stores an f32 score per
# token instead of merges; its tokens carry "▁" (3 bytes) for a space.
BPE_TOKEN_BYTES = 7
SPM_TOKEN_BYTES = 6
MERGE_BYTES = 8  # string bytes of one "a b" merge
FIXED_METADATA_BYTES = 8_192  # general.*, hyper-parameters, special token ids, a chat template


@dataclass
class GGUFSizeBreakdown:
    """Where the bytes of a (predicted) GGUF file go. `total` is the file size."""

    header: int
    metadata: int
    metadata_exact: bool
    tensor_info: int
    header_padding: int
    tensor_data: int
    tensor_padding: int
    alignment: int
    n_tensors: int
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (self.header + self.metadata + self.tensor_info + self.header_padding
                + self.tensor_data + self.tensor_padding)

    @property
    def prefix(self) -> int:
        """Bytes before the tensor data."""
        return self.header + self.metadata + self.tensor_info + self.header_padding


def pad(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def tensor_info_bytes(name: str, n_dims: int) -> int:
    return 8 + len(name.encode("utf-8")) + 4 + 8 * n_dims + 4 + 8


@dataclass
class _GT:
    name: str
    n_dims: int
    nbytes: int


def _gguf_tensors(plan: WeightPlan, inventory: Inventory) -> tuple[list[_GT], list[str]]:
    """The plan's tensors as GGUF tensors: experts merged per layer, generated tensors added."""
    model_type = str((inventory.config or {}).get("model_type") or "")
    out: dict[str, _GT] = {}
    notes: list[str] = []
    from vramcalc.calculator.quantize import names_by_group

    name_of: dict[str, GGUFName | None] | None = None
    for p in plan.groups:
        n_dims = max(1, len(p.tensor.shape))
        counts: Sequence[tuple[str, int]]
        if p.gguf is not None:
            counts = p.gguf
        else:  # a plan not made by llama.cpp's chooser: name its tensors here
            if name_of is None:
                name_of = gguf_name_map(inventory, lambda: names_by_group(inventory), model_type)
            counts = _gguf_names(p.members or (p.tensor,), name_of)
        for name, count in counts:
            if name in out:
                out[name].nbytes += count * p.nbytes
                out[name].n_dims = max(out[name].n_dims, 3)
            else:
                out[name] = _GT(name, n_dims if count == 1 else max(n_dims, 3), count * p.nbytes)
    if inventory.kind != "gguf":
        extra = _generated_tensors(inventory)
        for t in extra:
            out.setdefault(t.name, t)
        if extra:
            notes.append("adds " + ", ".join(t.name for t in extra) + " (written by convert_hf_to_gguf.py)")
    return list(out.values()), notes


def _gguf_names(members: tuple[TensorInfo, ...], name_of: dict[str, GGUFName | None]) -> list[tuple[str, int]]:
    """The GGUF names a group's tensors get, with how many source tensors each merges (an MoE layer's experts are
    one GGUF tensor), in order: for a plan that does not carry them (`TensorPlan.gguf`, which llama.cpp's chooser
    fills)."""
    counts: dict[str, int] = {}
    for member in members:
        g = name_of[member.name]
        name = g.name if g else member.name
        counts[name] = counts.get(name, 0) + 1
    return list(counts.items())


def _generated_tensors(inventory: Inventory) -> list[_GT]:
    # convert_hf_to_gguf.py (LlamaModel.generate_extra_tensors) writes rope_freqs (F32, head_dim / 2) for
    # Llama 3.1-style rope scaling.
    from vramcalc.architecture_helpers import architecture_of

    model, _ = architecture_of(inventory)
    rs = model.extra.get("rope_scaling") if model is not None else None
    if model is not None and model.layers and isinstance(rs, dict) and rs.get("rope_type", rs.get("type")) == "llama3":
        return [_GT("rope_freqs.weight", 1, 4 * (model.layers[0].head_dim // 2))]
    return []


def estimate_metadata(inventory: Inventory) -> tuple[int, str]:
    """Estimated bytes of the KV section for a GGUF converted from this model, with how it was reckoned."""
    from vramcalc.architecture_helpers import architecture_of
    from vramcalc.models import LLAMA_STYLE

    model, _ = architecture_of(inventory)
    vocab = model.vocab_size if model is not None else 0
    family = model.family if model is not None else LLAMA_STYLE
    # SentencePiece vocabularies carry scores and token types; Llama 2 and Mistral v0.1 (32k) use one too
    spm = family.tokenizer == "spm" or (family.llamacpp_arch == "llama" and 0 < vocab <= 32_768)
    if spm:
        per_token = 8 + SPM_TOKEN_BYTES + 4 + 4
        total = FIXED_METADATA_BYTES + vocab * per_token
        how = (f"SentencePiece vocabulary: {vocab:,} tokens × ({per_token} B: string + f32 score + i32 type) "
               f"+ {FIXED_METADATA_BYTES:,} B of other keys")
    else:
        per_token = 8 + BPE_TOKEN_BYTES + 4
        merges = max(0, vocab - 256)
        total = FIXED_METADATA_BYTES + vocab * per_token + merges * (8 + MERGE_BYTES)
        how = (f"byte-level BPE vocabulary: {vocab:,} tokens × {per_token} B + ≥{merges:,} merges × "
               f"{8 + MERGE_BYTES} B + {FIXED_METADATA_BYTES:,} B of other keys (estimate)")
    return total, how


def predict_gguf_file_size(
    inventory: Inventory, spec: FormatSpec, registry: Registry, plan: WeightPlan
) -> GGUFSizeBreakdown:
    """The file llama-quantize (or convert_hf_to_gguf.py + llama-quantize) would write for `plan`."""
    del spec, registry  # the plan already holds every tensor's type and bytes
    align = DEFAULT_ALIGNMENT
    meta = inventory.metadata or {}
    if inventory.kind == "gguf" and isinstance(meta.get("general.alignment"), int):
        align = int(meta["general.alignment"])
    tensors, notes = _gguf_tensors(plan, inventory)
    info = sum(tensor_info_bytes(t.name, t.n_dims) for t in tensors)
    data = sum(t.nbytes for t in tensors)
    tpad = sum(pad(t.nbytes, align) - t.nbytes for t in tensors)
    source_prefix = _gguf_source_prefix(inventory)
    if source_prefix is not None:
        # Same tensor names and dims: the infos keep their size, so the whole prefix carries over.
        metadata = source_prefix - HEADER_BYTES - info
        hpad = pad(source_prefix, align) - source_prefix
        metadata_exact = True
        notes.append("metadata, tensor infos and padding as in the source GGUF")
    else:
        metadata, how = estimate_metadata(inventory)
        hpad = pad(HEADER_BYTES + metadata + info, align) - (HEADER_BYTES + metadata + info)
        metadata_exact = False
        notes.append(f"metadata estimated: {how}")
    return GGUFSizeBreakdown(
        header=HEADER_BYTES, metadata=metadata, metadata_exact=metadata_exact, tensor_info=info,
        header_padding=hpad, tensor_data=data, tensor_padding=tpad, alignment=align, n_tensors=len(tensors),
        notes=notes,
    )


def _gguf_source_prefix(inventory: Inventory) -> int | None:
    if inventory.kind != "gguf" or len(inventory.files) != 1:
        return None
    return inventory.files[0].header_bytes
