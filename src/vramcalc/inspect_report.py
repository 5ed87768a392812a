"""The `vramcalc inspect` report: what a checkpoint holds, read from headers only."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from vramcalc.components import classify
from vramcalc.inventory import FileInfo, Inventory, QuantizationInfo
from vramcalc.reports import SCHEMA_VERSION

if TYPE_CHECKING:
    from vramcalc.registry import Registry


class Share(BaseModel):
    name: str
    params: int = Field(description="parameters: packed weights as unpacked, scales and zero points none")
    bytes: int
    tensors: int


class TensorRow(BaseModel):
    name: str
    dtype: str
    shape: list[int]
    bytes: int
    component: str = ""


class InspectReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    command: Literal["inspect"] = "inspect"
    source: str
    kind: str
    params: int = Field(description="true parameter count (unpacked for quantized checkpoints)")
    stored_elements: int = Field(description="elements as the headers count them")
    active_params: int | None = Field(None, description="parameters used per token (MoE)")
    bytes: int = Field(description="tensor bytes (exact, from the headers)")
    bits_per_weight: float = Field(0.0, description="tensor bytes × 8 ÷ parameters")
    file_type: str | None = Field(None, description="GGUF: the llama.cpp file type it records (Q4_K_M …)")
    file_bytes: int = Field(description="sum of file sizes, headers included")
    header_bytes: int
    by_dtype: list[Share]
    by_class: list[Share]
    by_component: list[Share] = Field([], description="pipeline components (diffusers)")
    files: list[FileInfo]
    quantization: QuantizationInfo | None = None
    architecture: dict[str, Any] = {}
    warnings: list[str] = []
    tensors: list[TensorRow] | None = None


def _shares(parts: list[tuple[str, int, int, int]]) -> list[Share]:
    """(key, parameters, bytes, tensors) summed by key, the most bytes first."""
    acc: dict[str, list[int]] = {}  # plain ints while summing, not pydantic setattr
    for key, params, nbytes, count in parts:
        a = acc.get(key)
        if a is None:
            a = acc[key] = [0, 0, 0]
        a[0] += params
        a[1] += nbytes
        a[2] += count
    shares = [Share(name=k, params=p, bytes=b, tensors=n) for k, (p, b, n) in acc.items()]
    return sorted(shares, key=lambda s: -s.bytes)


def build_inspect_report(inv: Inventory, *, tensors: bool = False, name_filter: str | None = None,
                         registry: Registry | None = None) -> InspectReport:
    """The report; a GGUF's file type is named from `registry` (the command's, with its --formats files)."""
    from vramcalc.architecture_helpers import active_params_of, architecture_of, architecture_summary

    arch, note = architecture_of(inv)
    rows = None
    if tensors:
        pattern = name_filter or "*"
        if not any(ch in pattern for ch in "*?["):
            pattern = f"*{pattern}*"
        rows = [TensorRow(name=t.name, dtype=t.dtype, shape=list(t.shape), bytes=t.nbytes, component=t.component)
                for t in inv.tensors if fnmatch.fnmatchcase(t.name, pattern)]
    components = inv.components
    # packed checkpoints: parameters as unpacked weights (scales and zero points hold none), so the shares add up
    # to the true count the header line shows
    from vramcalc.readers.packed import param_count

    # per group of tensors alike but for their layer or expert index (one dtype, shape, class and component; the
    # pattern keeps the suffixes param_count reads), bytes summed tensor by tensor: exact whatever a header says
    counted = [(alike[0], param_count(alike[0], inv.quantization) * len(alike), sum(t.nbytes for t in alike),
                len(alike)) for alike in inv.groups.values()]
    file_type = None
    ftype = inv.metadata.get("general.file_type") if inv.kind == "gguf" else None
    if isinstance(ftype, int) and not isinstance(ftype, bool):
        if registry is None:
            from vramcalc.registry import load_registry

            registry = load_registry()
        spec = registry.for_llama_ftype(ftype)
        file_type = spec.name if spec is not None else f"unknown ({ftype})"
    return InspectReport(
        bits_per_weight=inv.total_bytes * 8 / inv.total_params if inv.total_params else 0.0, file_type=file_type,
        source=inv.source, kind=inv.kind, params=inv.total_params, stored_elements=inv.stored_elements,
        active_params=active_params_of(arch, inv), bytes=inv.total_bytes,
        file_bytes=sum(f.size for f in inv.files), header_bytes=sum(f.header_bytes for f in inv.files),
        by_dtype=_shares([(t.dtype, n, b, k) for t, n, b, k in counted]),
        by_class=_shares([(classify(t.name, len(t.shape)), n, b, k) for t, n, b, k in counted]),
        by_component=_shares([(t.component, n, b, k) for t, n, b, k in counted])
        if components != [""] else [],
        files=inv.files, quantization=inv.quantization,
        architecture=architecture_summary(arch) if arch else {},
        warnings=list(inv.warnings) + ([note] if note else []), tensors=rows,
    )
