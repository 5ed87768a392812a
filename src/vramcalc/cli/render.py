"""Rich renderers: each takes a report object and prints it to stdout. People-facing hints go to stderr."""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vramcalc.reports import EstimateReport, FormatsReport
from vramcalc.units import UNIT_LABEL, format_bytes, format_count


def stdout_console() -> Console:
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
    return Console(highlight=False, soft_wrap=False, width=width)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def _other_units(units: str) -> str:
    return "gib" if units == "gb" else "gb"


def render_estimate(report: EstimateReport, console: Console | None = None) -> None:
    console = console or stdout_console()
    u = report.units
    m = report.model
    title = f"{m.source}: {format_count(m.params)} parameters ({m.params:,})"
    if m.active_params:
        title += f", {format_count(m.active_params)} active"
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("Format")
    table.add_column("Bits/weight", justify="right")
    table.add_column(f"Weights ({UNIT_LABEL[u]})", justify="right")
    table.add_column(f"({UNIT_LABEL[_other_units(u)]})", justify="right", style="dim")
    show_kv = any(r.kv_cache_bytes for r in report.rows)
    show_act = any(r.activation_bytes for r in report.rows)
    if show_kv:
        table.add_column("KV cache", justify="right")
    if show_act:
        table.add_column("Activations", justify="right")
    table.add_column("Overhead", justify="right")
    table.add_column(f"VRAM ({UNIT_LABEL[u]})", justify="right", style="bold")
    for r in report.rows:
        cells = [
            r.format, f"{r.bits_per_weight:.4g}",
            format_bytes(r.weight_bytes, u), format_bytes(r.weight_bytes, _other_units(u)),
        ]
        if show_kv:
            cells.append(format_bytes(r.kv_cache_bytes, u))
        if show_act:
            cells.append(format_bytes(r.activation_bytes, u))
        cells += [format_bytes(r.overhead_bytes, u), format_bytes(r.total_bytes, u)]
        table.add_row(*cells)
    console.print(table)
    _components(console, report)
    _bars(console, report)
    if report.context_sweep:
        _sweep(console, report)
    kv = report.kv_dtype or "engine default"
    console.print(Text(f"Engine {report.engine}; context {report.context:,} tokens × batch {report.batch} "
                       f"(KV {kv}){' — the default context; set --context' if report.context == 4096 else ''}. "
                       f"Every constant and its source: --explain. {UNIT_LABEL[u]} = "
                       f"{'10^9' if u == 'gb' else '2^30'} bytes.", style="dim"))
    caveats: dict[str, list[str]] = {}
    for r in report.rows:
        for k in r.kept:
            caveats.setdefault(k, []).append(r.format)
    for text, formats in caveats.items():
        where = "" if len(formats) == len(report.rows) else f" ({', '.join(formats)})"
        console.print(Text(f"• {text}{where}", style="dim"))
    for note in report.notes:
        console.print(note)
    if report.explain:
        console.print(Text("\nHow these numbers were computed:", style="bold"))
        for line in report.explain:
            console.print(Text(line))
        for h in report.heuristics:
            console.print(Text(f"  {h.name} = {h.value:,.0f} {h.unit} — {h.source}", style="dim"))


_PARTS = (("weights", "blue"), ("KV cache", "magenta"), ("activations", "yellow"), ("overhead", "bright_black"))


def _bars(console: Console, report: EstimateReport, width: int = 40) -> None:
    """One stacked bar per row, on a common scale, so the dominant part shows at a glance."""
    if not any(r.kv_cache_bytes or r.activation_bytes for r in report.rows):
        return
    scale = max(r.total_bytes for r in report.rows) or 1
    legend = Text("  ")
    for (name, colour) in _PARTS:
        legend.append("█", style=colour)
        legend.append(f" {name}  ")
    console.print(legend)
    name_w = max(len(r.format) for r in report.rows)
    for r in report.rows:
        line = Text(f"  {r.format:<{name_w}} ")
        values = (r.weight_bytes - r.host_bytes if r.host_bytes <= r.weight_bytes else 0, r.kv_cache_bytes,
                  r.activation_bytes, r.overhead_bytes)
        for (_, colour), v in zip(_PARTS, values, strict=True):
            line.append("█" * round(width * max(v, 0) / scale), style=colour)
        line.append(f" {format_bytes(r.total_bytes, report.units)}")
        console.print(line)


def _components(console: Console, report: EstimateReport) -> None:
    rows = [r for r in report.rows if r.components]
    if not rows:
        return
    u = report.units
    table = Table(title="Pipeline components", title_justify="left", header_style="bold")
    table.add_column("Component")
    for r in rows:
        table.add_column(f"{r.format} ({UNIT_LABEL[u]})", justify="right")
    for name in rows[0].components:
        table.add_row(name or "—", *(format_bytes(r.components.get(name, 0), u) for r in rows))
    table.add_row("all resident (+ activations, overhead)", *(format_bytes(r.total_bytes, u) for r in rows),
                  style="bold")
    table.add_row("peak with model CPU offload", *(format_bytes(r.offload_peak_bytes or 0, u) for r in rows),
                  style="bold")
    console.print(table)


def _sweep(console: Console, report: EstimateReport) -> None:
    u = report.units
    table = Table(title="VRAM against context", title_justify="left", header_style="bold")
    table.add_column("Context", justify="right")
    formats = [r.format for r in report.rows]
    for f in formats:
        table.add_column(f"{f} ({UNIT_LABEL[u]})", justify="right")
    for p in report.context_sweep:
        table.add_row(f"{p.context:,}", *(format_bytes(p.totals[f], u) for f in formats))
    console.print(table)
    top = max(v for p in report.context_sweep for v in p.totals.values()) or 1
    first = formats[0]
    for p in report.context_sweep:
        bar = "█" * round(40 * p.totals[first] / top)
        console.print(Text(f"  {p.context:>9,} {bar} {format_bytes(p.totals[first], u)} ({first})"))


def render_formats(report: FormatsReport, console: Console | None = None) -> None:
    console = console or stdout_console()
    table = Table(header_style="bold", show_lines=False)
    table.add_column("Name", no_wrap=True)
    table.add_column("Aliases")
    table.add_column("Family")
    table.add_column("Bits/weight", justify="right")
    table.add_column("Layout")
    table.add_column("Keeps")
    table.add_column("Notes")
    for f in report.formats:
        bpw = f"{f.bits_per_weight:.6g}" if f.bits_per_weight is not None else "—"
        table.add_row(f.name, ", ".join(f.aliases), f.family, bpw, f.layout, f.keeps, f.notes)
    console.print(table)
