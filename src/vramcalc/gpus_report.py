"""The `vramcalc gpus` report: the GPU catalog as rows, each figure with its source."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vramcalc.gpu_catalog import GpuCatalog, GpuSpec, share_text

SCHEMA_VERSION = 1


class _Report(BaseModel):
    model_config = ConfigDict(defer_build=True)


class GpuEntry(_Report):
    name: str
    aliases: list[str]
    vendor: str
    memory_bytes: int = Field(description="the device's memory: as the driver reports it, else the marketed GiB "
                                          "(unified memory: the RAM)")
    memory_basis: Literal["driver", "marketed"] = Field(
        description="driver: memory_bytes is what the driver reports (memory_mib, e.g. nvidia-smi's total); "
                    "marketed: the size it is sold with, in GiB (the driver reports a little less)")
    memory_mib: int | None = None
    reported_by: str | None = Field(None, description="the tool memory_mib is read from")
    memory_gib: float | None = None
    usable_bytes: int = Field(description="bytes the GPU may use: memory_bytes, or for unified memory the share of "
                                          "RAM the OS allows by default — what --gpu NAME budgets")
    gpu_share: str | None = Field(None, description="unified memory: the fraction of RAM usable by the GPU, e.g. '3/4'")
    bandwidth_gbs: float | None = Field(None, description="memory bandwidth, GB/s")
    bf16_tflops: float | None = Field(None, description="dense bf16/fp16 tensor TFLOPS")
    fp8_tflops: float | None = Field(None, description="dense fp8 tensor TFLOPS")
    fp4_tflops: float | None = Field(None, description="dense fp4 tensor TFLOPS")
    compute_capability: str | None = None
    interconnect: str | None = None
    interconnect_gbs: float | None = None
    unified_memory: bool = False
    notes: str = ""
    sources: dict[str, str] = Field(description="figure → where it comes from")


class GpusReport(_Report):
    schema_version: int = SCHEMA_VERSION
    command: Literal["gpus"] = "gpus"
    catalog_files: list[str]
    unified_memory_rule: str | None = Field(
        None, description="the default GPU share of unified memory by RAM size, and its sources")
    gpus: list[GpuEntry]


def _entry(catalog: GpuCatalog, spec: GpuSpec) -> GpuEntry:
    sources = dict(spec.sources)
    share = None
    if spec.unified_memory:
        share = share_text(catalog.share(spec))
        if "gpu_share" not in sources:
            sources["gpu_share"] = catalog.share_source(spec) or ""
    return GpuEntry(
        name=spec.name, aliases=list(spec.aliases), vendor=spec.vendor, memory_bytes=spec.memory_bytes,
        memory_basis="driver" if spec.memory_is_reported else "marketed", memory_mib=spec.memory_mib,
        reported_by=spec.reported_by, memory_gib=spec.memory_gib, usable_bytes=catalog.usable_bytes(spec),
        gpu_share=share, bandwidth_gbs=spec.bandwidth_gbs, bf16_tflops=spec.bf16_tflops, fp8_tflops=spec.fp8_tflops,
        fp4_tflops=spec.fp4_tflops, compute_capability=spec.compute_capability, interconnect=spec.interconnect,
        interconnect_gbs=spec.interconnect_gbs, unified_memory=spec.unified_memory, notes=spec.notes,
        sources=sources,
    )


def build_gpus_report(catalog: GpuCatalog, names: list[str] | None = None) -> GpusReport:
    """Every device (or the named ones, by name or alias, in the order given). A name that is no device is a
    UsageError with the closest names."""
    specs = list(dict.fromkeys(catalog.get(n).name for n in names)) if names else None
    chosen = [catalog.get(n) for n in specs] if specs is not None else list(catalog)
    rule = catalog.rule
    rule_text = None
    if rule is not None:
        rule_text = (f"{rule.share_small} of RAM at or below {rule.threshold_gib:g} GiB, {rule.share_large} above — "
                     f"{rule.source}")
    return GpusReport(catalog_files=catalog.sources, unified_memory_rule=rule_text,
                      gpus=[_entry(catalog, s) for s in chosen])
