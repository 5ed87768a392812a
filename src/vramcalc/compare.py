"""`vramcalc compare`: models or labels side by side — parameters, bits per weight, weights/file, VRAM.

Pure: callers resolve what the user typed (a label, a config, a checkpoint, a GGUF, a Hub id) and pass it in.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from vramcalc.heuristics import CUDA_CONTEXT
from vramcalc.reports import SCHEMA_VERSION, HeuristicUse
from vramcalc.units import ModelLabel, format_bytes, format_count

if TYPE_CHECKING:
    from vramcalc.inventory import Inventory
    from vramcalc.registry import FormatSpec, Registry

DEFAULT_FORMAT = "bf16"
KV_NEEDS_ARCHITECTURE = "needs architecture: give a config.json, checkpoint, GGUF or Hub id"
KV_NOT_AVAILABLE = "KV cache not computed in this version"


class CompareEntry(BaseModel):
    model: str = Field(description="what was typed: a label, a path or a Hub id")
    kind: str = Field(description="label, count, config, safetensors, gguf, hub, …")
    format: str = Field(description="the format priced, or 'as stored'")
    params: int
    bits_per_weight: float = Field(description="weight bytes × 8 ÷ parameters")
    weight_bytes: int
    file_bytes: int | None = Field(None, description="predicted GGUF file size (header, metadata, padding) for "
                                                     "llama.cpp formats, or the real file size of a GGUF")
    kv_cache_bytes: int | None = Field(None, description="KV cache at `context` tokens; None when unknown")
    kv_note: str = ""
    overhead_bytes: int = Field(description="runtime overhead, see heuristics")
    total_bytes: int = Field(description="weights + KV cache (when known) + overhead")
    notes: list[str] = []


class CompareReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    command: Literal["compare"] = "compare"
    context: int = Field(description="tokens of context the KV cache is sized for")
    units: Literal["gb", "gib"] = "gb"
    entries: list[CompareEntry]
    verdict: str = ""
    heuristics: list[HeuristicUse] = []


def _overhead() -> int:
    return CUDA_CONTEXT.as_int()


def entry_for_label(text: str, label: ModelLabel, fmt: str | None, registry: Registry) -> CompareEntry:
    from vramcalc.calculator.weights import count_bytes, effective_spec

    spec = registry.get(label.format_name or fmt or DEFAULT_FORMAT)
    n = label.total_params
    nbytes = count_bytes(n, spec, registry)
    notes = []
    eff = effective_spec(spec, registry)
    if eff is not spec:
        notes.append(f"{spec.name} priced as all {eff.name}: the real mix keeps some tensors in higher types; "
                     "give a config or checkpoint for the per-tensor figure")
    if label.experts is not None:
        notes.append(f"{label.text}: experts share attention and embeddings, so the true total is smaller")
    over = _overhead()
    return CompareEntry(
        model=text, kind="label", format=spec.name, params=n, bits_per_weight=float(Fraction(nbytes * 8, n)),
        weight_bytes=nbytes, kv_note=KV_NEEDS_ARCHITECTURE, overhead_bytes=over, total_bytes=nbytes + over,
        notes=notes,
    )


def entry_for_inventory(
    text: str, inventory: Inventory, fmt: str | None, registry: Registry, context: int = 4096
) -> CompareEntry:
    from vramcalc.calculator.gguf_file import predict_gguf_file_size
    from vramcalc.calculator.quantize import llamacpp_ftype, plan_format

    over = _overhead()
    params = inventory.total_params
    kv, kv_note = kv_for(inventory, context)
    if fmt is None and inventory.kind != "config":
        nbytes = inventory.total_bytes
        file_bytes = sum(f.size for f in inventory.files) if inventory.kind == "gguf" and inventory.files else None
        return CompareEntry(
            model=text, kind=inventory.kind, format="as stored", params=params,
            bits_per_weight=float(Fraction(nbytes * 8, params or 1)), weight_bytes=nbytes, file_bytes=file_bytes,
            kv_cache_bytes=kv, kv_note=kv_note, overhead_bytes=over, total_bytes=nbytes + (kv or 0) + over,
        )
    spec: FormatSpec = registry.get(fmt or _config_dtype(inventory) or DEFAULT_FORMAT)
    plan = plan_format(inventory, spec, registry)
    file_bytes = None
    notes = []
    if llamacpp_ftype(spec) is not None:
        gf = predict_gguf_file_size(inventory, spec, registry, plan)
        file_bytes = gf.total
        if not gf.metadata_exact:
            notes.append("GGUF metadata (tokenizer) estimated")
    return CompareEntry(
        model=text, kind=inventory.kind, format=spec.name, params=plan.params,
        bits_per_weight=float(plan.bits_per_weight), weight_bytes=plan.nbytes, file_bytes=file_bytes,
        kv_cache_bytes=kv, kv_note=kv_note, overhead_bytes=over, total_bytes=plan.nbytes + (kv or 0) + over,
        notes=notes,
    )


def kv_for(inventory: Inventory, context: int) -> tuple[int | None, str]:
    """KV cache bytes at `context` tokens, and a note. The one place the KV-cache calculator plugs in
    (vramcalc.calculator.kv, from the architecture in `inventory.config` or its GGUF metadata)."""
    from vramcalc.architecture_helpers import architecture_of
    from vramcalc.calculator.kv import kv_cache_bytes

    arch, note = architecture_of(inventory)
    if arch is None:
        return None, note or KV_NOT_AVAILABLE
    return kv_cache_bytes(arch, context, 1, "bf16", "transformers"), "bf16 KV cache, batch 1 (transformers)"


def _config_dtype(inventory: Inventory) -> str | None:
    dt = (inventory.config or {}).get("torch_dtype") or (inventory.config or {}).get("dtype")
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(str(dt)) if dt else None


def verdict(entries: list[CompareEntry], units: str) -> str:
    if len(entries) < 2:
        return ""
    ranked = sorted(entries, key=lambda e: e.total_bytes)
    parts = " vs ".join(f"{e.model}: {format_bytes(e.total_bytes, units, 1)}" for e in entries)
    small, big = ranked[0], ranked[-1]
    if big.total_bytes == small.total_bytes:
        return f"{parts} — the same"
    saved = big.total_bytes - small.total_bytes
    why = ""
    if small.params > big.params:
        why = (f": more parameters ({format_count(small.params)} vs {format_count(big.params)}) at fewer bits "
               f"({small.bits_per_weight:.2f} vs {big.bits_per_weight:.2f} per weight)")
    elif small.bits_per_weight < big.bits_per_weight and small.params < big.params:
        why = (f": fewer parameters ({format_count(small.params)} vs {format_count(big.params)}) and fewer bits "
               f"({small.bits_per_weight:.2f} vs {big.bits_per_weight:.2f})")
    kv = "" if all(e.kv_cache_bytes is not None for e in entries) else " (KV cache not included)"
    return (f"{parts} — {small.model} needs {format_bytes(saved, units, 1)} less "
            f"({saved / big.total_bytes:.0%}){why}{kv}")


def build_compare(
    sources: list[tuple[str, ModelLabel | Inventory]], fmt: str | None, context: int, units: str,
    registry: Registry,
) -> CompareReport:
    entries = [
        entry_for_label(text, src, fmt, registry) if isinstance(src, ModelLabel)
        else entry_for_inventory(text, src, fmt, registry, context)
        for text, src in sources
    ]
    h = CUDA_CONTEXT
    return CompareReport(
        context=context, units="gib" if units == "gib" else "gb", entries=entries, verdict=verdict(entries, units),
        heuristics=[HeuristicUse(name=h.name, value=h.value, unit=h.unit, source=h.source)],
    )
