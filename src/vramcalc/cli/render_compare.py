"""Render a CompareReport as a table (stdout) with the verdict under it."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vramcalc.cli.render import stdout_console
from vramcalc.compare_report import CompareEntry, CompareReport
from vramcalc.units import UNIT_LABEL, format_bytes, format_count


def _transposed(report: CompareReport, console: Console) -> None:
    """Narrow terminals: one column per model, one row per quantity, so nothing is cut short."""
    u = report.units
    console.print(Text(f"Side by side at {report.context:,} tokens of context", style="italic"))
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("")
    for e in report.entries:
        table.add_column(e.model, justify="right", overflow="fold")
    es = report.entries
    rows = [
        ("format", [e.format for e in es]), ("engine", [e.engine for e in es]),
        ("parameters", [format_count(e.params) for e in es]), ("bits/weight", [f"{e.bits_per_weight:.3f}" for e in es]),
        ("file", [format_bytes(e.file_bytes, u) if e.file_bytes is not None else "—" for e in es]),
        ("weights", [format_bytes(e.weight_bytes, u) for e in es]),
        *([("− in host RAM", [_host(e, u) for e in es])] if any(e.weights_in_host_bytes for e in es) else []),
        ("KV cache", [format_bytes(e.kv_cache_bytes, u) if e.kv_cache_bytes is not None else "—" for e in es]),
        ("activations", [format_bytes(e.activation_bytes, u) for e in es]),
        ("overhead", [format_bytes(e.overhead_bytes, u) for e in es]),
        ("VRAM", [format_bytes(e.total_bytes, u) for e in es]),
        *([("GPUs", [_gpus(e) for e in es]), ("max context", [_ctx(e) for e in es])] if report.gpu_memory else []),
    ]
    for name, cells in rows:
        table.add_row(name, *cells, style="bold" if name == "VRAM" else None)
    console.print(table)


def render_compare(report: CompareReport, console: Console | None = None) -> None:
    console = console or stdout_console()
    u = report.units
    # one row per model needs ~12 columns: below that width (or with long names) one column per model instead
    wide = 125 + max(len(e.model) for e in report.entries) + (25 if report.gpu_memory else 0)
    if console.width < wide:
        _transposed(report, console)
        _footer(report, console)
        return
    table = Table(title=f"Side by side at {report.context:,} tokens of context", title_justify="left",
                  header_style="bold")
    host = any(e.weights_in_host_bytes for e in report.entries)
    gpus = report.gpu_memory is not None
    for name, justify in (("Model", "left"), ("Format", "left"), ("Engine", "left"), ("Params", "right"),
                          ("Bits/weight", "right"), ("File", "right"), (f"Weights ({UNIT_LABEL[u]})", "right"),
                          *([("− in host RAM", "right")] if host else []),
                          ("KV cache", "right"), ("Activations", "right"), ("Overhead", "right"),
                          (f"VRAM ({UNIT_LABEL[u]})", "right"),
                          *([("GPUs", "right"), ("Max context", "right")] if gpus else [])):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for e in report.entries:
        kv = format_bytes(e.kv_cache_bytes, u) if e.kv_cache_bytes is not None else "—"
        table.add_row(
            e.model, e.format, e.engine, format_count(e.params), f"{e.bits_per_weight:.3f}",
            format_bytes(e.file_bytes, u) if e.file_bytes is not None else "—", format_bytes(e.weight_bytes, u),
            *([_host(e, u)] if host else []), kv, format_bytes(e.activation_bytes, u),
            format_bytes(e.overhead_bytes, u), format_bytes(e.total_bytes, u),
            *([_gpus(e), _ctx(e)] if gpus else []),
        )
    console.print(table)
    _footer(report, console)


def _host(e: CompareEntry, units: str) -> str:
    return f"−{format_bytes(e.weights_in_host_bytes, units)}" if e.weights_in_host_bytes else "—"


def _gpus(e: CompareEntry) -> str:
    return "> 64" if e.gpus is None else str(e.gpus)


def _ctx(e: CompareEntry) -> str:
    return f"{e.max_context:,}" if e.max_context else "—"


def _footer(report: CompareReport, console: Console) -> None:
    if report.verdict:
        console.print(report.verdict)
    notes = sorted({f"{e.model}: {n}" for e in report.entries for n in [*e.notes, *([e.kv_note] if e.kv_note and
                    e.kv_cache_bytes is None else [])]})
    for n in notes:
        console.print(Text(f"• {n}", style="dim"))
    if report.heuristics:
        console.print(Text(f"Heuristic constants used: {', '.join(h.name for h in report.heuristics)} — each with "
                           "its source in --json, and in `vramcalc estimate … --explain`", style="dim"))
