"""Which quant of a repo fits: one EstimateReport whose rows are a repo's (or folder's) GGUF quants, as stored.

Pure: the QuantSet comes read (headers only); each quant is estimated by `estimate_inventory` as it is stored, at
the request's context, batch and engine, and its row is renamed after its quant, with its real file size.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from vramcalc.estimate_report import AS_STORED, estimate_inventory, is_as_stored
from vramcalc.reports import ContextPoint, EstimateReport, FormatRow, HeuristicUse
from vramcalc.units import format_bytes

if TYPE_CHECKING:
    from vramcalc.estimate_report import EstimateRequest
    from vramcalc.inventory import Inventory
    from vramcalc.readers import QuantSet
    from vramcalc.registry import Registry

# The one-GPU verdict each per-quant report carries about its single as-stored row (estimate's best fit); the table
# says its own, over the quants.
_BEST_FIT_NOTES = ("no format here fits ", "the most precise format that fits ")


def estimate_quants(quants: QuantSet, request: EstimateRequest, registry: Registry) -> EstimateReport:
    """Every quant of `quants` (only those named with --dtype, if any) as stored, sorted by file size."""
    chosen = _chosen(quants, request.formats)
    sub = replace(request, formats=[AS_STORED])
    reports: list[tuple[str, EstimateReport]] = []
    for tag, inventory in chosen:
        report = estimate_inventory(inventory, sub, registry)
        row = report.rows[0]
        row.format = tag
        row.file_bytes = sum(f.size for f in inventory.files) or row.file_bytes
        reports.append((tag, report))
    reports.sort(key=lambda tr: (tr[1].rows[0].file_bytes or tr[1].rows[0].weight_bytes, tr[0]))
    first = reports[0][1]
    rows = [r.rows[0] for _, r in reports]
    example = next((t for t, _ in reports if t.upper() == "Q4_K_M"), reports[0][0])
    sizes = ", ".join(f"{t} {format_bytes(r.rows[0].file_bytes or r.rows[0].weight_bytes, request.units)}"
                      for t, r in reports)
    notes = [f"{quants.source} holds {len(quants.quants)} GGUF quants"
             + (f" ({len(reports)} shown)" if len(reports) < len(quants.quants) else "")
             + f": one row each, as stored — files {sizes}. For one quant (its breakdown, other formats), name it: "
             f"`vramcalc estimate {quants.how_to_pick(example)}`"]
    warnings: list[str] = []
    explain: list[str] = []
    heuristics: dict[str, HeuristicUse] = {}
    for tag, r in reports:
        notes += [n for n in r.notes if n not in notes and not n.startswith(_BEST_FIT_NOTES)]
        warnings += [w for w in r.warnings if w not in warnings]
        explain += [f"{tag}: {line.removeprefix(AS_STORED + ': ')}" for line in r.explain]
        heuristics.update({h.name: h for h in r.heuristics})
    if first.gpu_memory:
        notes.append(_best_quant(rows, first))
    sweep = [ContextPoint(context=point.context, totals={tag: r.context_sweep[i].totals[AS_STORED]
                                                         for tag, r in reports})
             for i, point in enumerate(first.context_sweep)]
    model = first.model.model_copy(update={"source": quants.source, "stored_bytes": None, "stored_dtypes": {}})
    return first.model_copy(update={
        "model": model, "rows": rows, "context_sweep": sweep, "notes": notes, "warnings": warnings,
        "explain": explain, "heuristics": list(heuristics.values()),
    })


def _chosen(quants: QuantSet, formats: list[str]) -> list[tuple[str, Inventory]]:
    """The quants --dtype names (by tag, any case; "as stored" keeps them all), or all of them."""
    from vramcalc.errors import UsageError

    names = [f for f in formats if not is_as_stored(f)]
    if not names or len(names) < len(formats):
        return list(quants.quants)

    def norm(text: str) -> str:
        return text.strip().lower().replace("-", "_")

    by_tag = {norm(t): (t, inv) for t, inv in quants.quants}
    missing = [n for n in names if norm(n) not in by_tag]
    if missing:
        tags = ", ".join(t for t, _ in quants.quants)
        raise UsageError(f"{quants.source} holds no {missing[0]} quant (it holds {tags})",
                         f"pick among those, or re-price one quant: vramcalc estimate "
                         f"{quants.how_to_pick(quants.quants[0][0])} -d {missing[0]}")
    return [by_tag[norm(n)] for n in dict.fromkeys(names)]


def _best_quant(rows: list[FormatRow], report: EstimateReport) -> str:
    """The quant with the most bits per weight that runs on one GPU of --gpu-memory."""
    assert report.gpu_memory is not None
    where = (f"one {format_bytes(report.gpu_memory, report.units)} GPU at {report.context:,} tokens × "
             f"{report.batch}")
    single = [r for r in rows if r.gpus == 1]
    if not single:
        return f"no quant here fits {where}: see the GPUs column, or a smaller context"
    best = max(single, key=lambda r: (r.bits_per_weight, -r.total_bytes))
    return (f"the most precise quant that fits {where}: {best.format} ({best.bits_per_weight:.3g} bits/weight, "
            f"{format_bytes(best.total_bytes, report.units)})")
