"""`vramcalc compare`: models or labels side by side — parameters, bits per weight, weights/file, VRAM.

Each entry is one row of the estimate pipeline (same registry, per-tensor plans, engine profiles and heuristics),
so compare and estimate always agree. Pure: callers resolve what the user typed and pass it in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from vramcalc.reports import SCHEMA_VERSION, HeuristicUse
from vramcalc.units import ModelLabel, format_bytes, format_count

if TYPE_CHECKING:
    from vramcalc.calculator.engines import RuntimeRequest
    from vramcalc.inventory import Inventory
    from vramcalc.registry import Registry

DEFAULT_FORMAT = "bf16"
KV_NEEDS_ARCHITECTURE = "needs architecture: give a config.json, checkpoint, GGUF or Hub id"


class CompareEntry(BaseModel):
    model: str = Field(description="what was typed: a label, a path or a Hub id")
    kind: str = Field(description="label, count, config, safetensors, gguf, hub, …")
    format: str = Field(description="the format priced, or 'as stored'")
    engine: str = Field("transformers", description="the engine profile the VRAM figure is for")
    params: int
    bits_per_weight: float = Field(description="weight bytes × 8 ÷ parameters")
    weight_bytes: int
    file_bytes: int | None = Field(None, description="predicted GGUF file size (header, metadata, padding) for "
                                                     "llama.cpp formats, or the real file size of a GGUF")
    weights_in_host_bytes: int = Field(0, description="weights the engine keeps in host memory, not in VRAM "
                                                     "(llama.cpp: the token embeddings; layers not offloaded)")
    kv_cache_bytes: int | None = Field(None, description="KV cache at `context` tokens; None when unknown")
    kv_note: str = ""
    activation_bytes: int = 0
    overhead_bytes: int = Field(description="runtime overhead, see heuristics")
    total_bytes: int = Field(description="weights − weights in host memory + KV cache (when known) + activations "
                                         "+ overhead")
    gpus: int | None = Field(None, description="GPUs of --gpu-memory needed (None: not asked, or more than 64)")
    max_context: int | None = Field(None, description="longest context that fits one --gpu-memory GPU")
    notes: list[str] = []


class CompareReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    command: Literal["compare"] = "compare"
    context: int = Field(description="tokens of context the KV cache is sized for")
    units: Literal["gb", "gib"] = "gb"
    gpu_memory: int | None = Field(None, description="bytes per GPU given with --gpu-memory")
    entries: list[CompareEntry]
    verdict: str = ""
    heuristics: list[HeuristicUse] = []


def _entry(text: str, source: ModelLabel | Inventory, own: str | None, fmt: str | None, runtime: RuntimeRequest,
           units: str, registry: Registry) -> tuple[CompareEntry, list[HeuristicUse]]:
    from dataclasses import replace

    from vramcalc.estimate_report import AS_STORED, EstimateRequest, estimate_count, estimate_inventory

    if own is not None:
        formats = [own]
    elif isinstance(source, ModelLabel):
        formats = [source.format_name or fmt or DEFAULT_FORMAT]
    elif fmt is None and source.kind != "config":
        formats = [AS_STORED]
    else:
        formats = [fmt or _config_dtype(source, registry) or DEFAULT_FORMAT]
    request = EstimateRequest(formats=formats, units=units, runtime=replace(runtime), contexts=[runtime.context])
    report = (estimate_count(source, request, registry) if isinstance(source, ModelLabel)
              else estimate_inventory(source, request, registry))
    row = report.rows[0]
    known = bool(report.model.architecture)
    engine = row.engine or report.engine
    kv_note = (f"{report.kv_dtype or 'default'} KV cache, batch {report.batch} ({engine})" if report.kv_cache
               else KV_NEEDS_ARCHITECTURE if not known else "no KV cache")
    notes = [k for k in row.kept if not k.startswith("as stored")] + report.warnings
    if isinstance(source, ModelLabel) and source.experts is not None:
        notes.append(f"{source.text}: experts share attention and embeddings, so the true total is smaller")
    entry = CompareEntry(
        model=text, kind=report.model.kind, format=row.format, engine=engine, params=row.params,
        bits_per_weight=row.bits_per_weight, weight_bytes=row.weight_bytes, file_bytes=row.file_bytes,
        weights_in_host_bytes=row.weight_bytes - (row.weights_on_gpu_bytes if row.weights_on_gpu_bytes is not None
                                                  else row.weight_bytes),
        kv_cache_bytes=row.kv_cache_bytes if report.kv_cache else None, kv_note=kv_note,
        activation_bytes=row.activation_bytes, overhead_bytes=row.overhead_bytes, total_bytes=row.total_bytes,
        gpus=row.gpus, max_context=row.max_context, notes=notes,
    )
    return entry, report.heuristics


def _config_dtype(inventory: Inventory, registry: Registry) -> str | None:
    """The format a config's torch_dtype names ("bfloat16" is an alias of bf16 in the registry)."""
    dt = (inventory.config or {}).get("torch_dtype") or (inventory.config or {}).get("dtype")
    spec = registry.find(str(dt).removeprefix("torch.")) if dt else None
    return spec.name if spec is not None else None


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
    sources: list[tuple[str, ModelLabel | Inventory, str | None]], fmt: str | None, context: int, units: str,
    registry: Registry, runtime: RuntimeRequest | None = None,
) -> CompareReport:
    """One estimate row per source: the format given with it (`path:Q4_K_M`), a label's own, `fmt`, or as stored;
    `runtime.engine` "auto" picks llama.cpp for GGUF entries and transformers for the rest, entry by entry."""
    from dataclasses import replace

    from vramcalc.calculator.engines import RuntimeRequest
    from vramcalc.estimate_report import AUTO_ENGINE

    base = replace(runtime or RuntimeRequest(engine=AUTO_ENGINE), context=context)
    entries: list[CompareEntry] = []
    heuristics: dict[str, HeuristicUse] = {}
    for text, src, own in sources:
        entry, used = _entry(text, src, own, fmt, base, units, registry)
        entries.append(entry)
        heuristics.update({h.name: h for h in used})
    return CompareReport(
        context=context, units="gib" if units == "gib" else "gb", entries=entries, verdict=verdict(entries, units),
        gpu_memory=base.gpu_memory,
        heuristics=list(heuristics.values()),
    )


def resolve_with_format(text: str, registry: Registry, revision: str | None, token: str | None,
                        refresh: bool = False) -> tuple[str, ModelLabel | Inventory, str | None]:
    """A model and the format asked for it: `path:Q4_K_M`, `7B:Q8_0` or `org/name:Q8_0`. On the Hub a tag first
    picks a GGUF quant of the repo (as llama.cpp's -hf does); a repo without GGUFs prices its weights in that
    format."""
    from pathlib import Path

    from vramcalc.errors import HubError, UsageError
    from vramcalc.resolve import looks_like_repo_id, resolve_model

    def read(model: str) -> ModelLabel | Inventory:
        return resolve_model(model, revision=revision, token=token, quant_set=False, registry=registry,
                             refresh=refresh)

    head, sep, tail = text.rpartition(":")
    spec = registry.find(tail) if sep and head and not tail.startswith(("/", "\\")) else None
    if spec is None:
        return text, read(text), None
    if Path(head).expanduser().exists():
        return text, read(head), spec.name
    if looks_like_repo_id(head):
        try:
            return text, read(text), None
        except HubError as e:
            if "no GGUF" not in str(e):
                raise
        return text, read(head), spec.name
    try:
        return text, read(head), spec.name
    except UsageError:
        return text, read(text), None
