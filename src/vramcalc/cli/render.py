"""Rich renderers: each takes a report object and prints it to stdout. People-facing hints go to stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from vramcalc.cli.charts import context_chart, legend, stacked_bar
from vramcalc.cli.safe_text import clean
from vramcalc.reports import EstimateReport, FormatEntry, FormatRow, FormatsReport
from vramcalc.units import UNIT_DIVISOR, UNIT_LABEL, format_bytes, format_count


class _StdoutConsole(Console):
    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # every piece of text, whatever built it (tables, Text, notes), passes here on its way out; styles are
        # segment attributes, not text, so they survive
        return super()._render_buffer(
            seg if seg.control else Segment(clean(seg.text), seg.style, seg.control) for seg in buffer)

    def on_broken_pipe(self) -> None:
        """`vramcalc … | head`: the reader left — not an error (rich's default exits 1, as --json does not)."""
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0)


def stdout_console() -> Console:
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
    return _StdoutConsole(highlight=False, soft_wrap=False, width=width, markup=False)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, markup=False)


def _other_units(units: str) -> str:
    return "gib" if units == "gb" else "gb"


def _sizer(units: str, compact: bool) -> Callable[[int], str]:
    """Byte counts for a table cell: with their unit, or (compact tables, unit in the caption) a bare number."""
    if compact:
        return lambda n: f"{n / UNIT_DIVISOR[units]:.2f}"
    return lambda n: format_bytes(n, units)


@dataclass(frozen=True)
class _Column:
    """One column of the estimate table: headers (compact, full), whether the report needs it, the cell of a row."""

    compact: str
    full: str
    shown: Callable[[EstimateReport], bool]
    cell: Callable[[FormatRow], str]
    style: str | None = None


def _estimate_columns(report: EstimateReport, compact: bool) -> list[_Column]:
    u = report.units
    unit, size = UNIT_LABEL[u], _sizer(u, compact)

    def gpus(r: FormatRow) -> str:
        return "> 64" if r.gpus is None else f"{r.gpus}" + (f" × {size(r.per_gpu_bytes or 0)}" if r.gpus > 1 else "")

    def context(r: FormatRow) -> str:
        at_max = r.max_context == report.model.architecture.get("max_context")
        return "—" if not r.max_context else f"{r.max_context:,}" + (
            (" (max)" if compact else " (model max)") if at_max else "")

    gpu = format_bytes(report.gpu_memory or 0, u)
    always: Callable[[EstimateReport], bool] = lambda _: True  # noqa: E731
    return [
        _Column("Format", "Format", always, lambda r: r.format),
        _Column("bpw", "Bits/weight", always, lambda r: f"{r.bits_per_weight:.4g}"),
        # a table of files (a repo's GGUF quants): their sizes on disk lead
        _Column("File", f"File ({unit})", lambda rep: bool(rep.rows) and all(r.file_bytes is not None
                                                                             for r in rep.rows),
                lambda r: size(r.file_bytes or 0)),
        _Column("Weights", f"Weights ({unit})", always, lambda r: size(r.weight_bytes)),
        _Column("", f"({UNIT_LABEL[_other_units(u)]})", lambda _: not compact,
                lambda r: format_bytes(r.weight_bytes, _other_units(u)), style="dim"),
        # llama.cpp keeps the token embeddings (and layers not offloaded) in host memory: shown, so columns add up
        _Column("−Host", "− in host RAM", lambda rep: any(_in_host(r) for r in rep.rows),
                lambda r: f"−{size(_in_host(r))}" if _in_host(r) else "—"),
        _Column("KV", "KV cache", lambda rep: any(r.kv_cache_bytes for r in rep.rows),
                lambda r: size(r.kv_cache_bytes)),
        _Column("Act.", "Activations", lambda rep: any(r.activation_bytes for r in rep.rows),
                lambda r: size(r.activation_bytes)),
        _Column("Ovh.", "Overhead", always, lambda r: size(r.overhead_bytes)),
        _Column("VRAM", f"VRAM ({unit})", always, lambda r: size(r.total_bytes), style="bold"),
        _Column("GPUs", f"GPUs of {gpu}", lambda rep: rep.gpu_memory is not None, gpus),
        _Column("Held", "vLLM holds", lambda rep: any(r.process_bytes is not None for r in rep.rows),
                lambda r: size(r.process_bytes) if r.process_bytes is not None else "—"),
        _Column("Max ctx", "Max context", lambda rep: any(r.max_context is not None for r in rep.rows), context),
    ]


def render_estimate(report: EstimateReport, console: Console | None = None) -> None:
    console = console or stdout_console()
    u = report.units
    m = report.model
    title = f"{m.source}: {format_count(m.params)} parameters ({m.params:,})"
    if m.active_params:
        title += f", {format_count(m.active_params)} active"
    # Under 110 columns: sizes as plain numbers in one unit (said in the caption), short headers, no second unit,
    # no vertical rules — so that no number is cut short on an 80-column terminal.
    compact = console.width < 110
    if compact:  # a narrow table would wrap its title: print it on its own line
        console.print(Text(title, style="italic"))
    caption = (f"sizes in {UNIT_LABEL[u]}" + (f"; GPUs of {format_bytes(report.gpu_memory, u)}"
                                              if report.gpu_memory else "")
               + ("; Held: what vLLM holds (its whole budget)" if any(
                   r.process_bytes is not None for r in report.rows) else ""))
    table = Table(title=None if compact else title, title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact, collapse_padding=compact,
                  caption=caption if compact else None, caption_justify="left")
    columns = [c for c in _estimate_columns(report, compact) if c.shown(report)]
    for i, c in enumerate(columns):
        table.add_column(c.compact if compact else c.full, justify="left" if i == 0 else "right", no_wrap=c.style
                         != "dim", style=c.style)
    for r in report.rows:
        table.add_row(*(c.cell(r) for c in columns))
    console.print(table)
    _components(console, report)
    _bars(console, report)
    if report.context_sweep:
        _sweep(console, report)
    console.print(Text(_runtime_line(report) + f"Every constant and its source: --explain. {UNIT_LABEL[u]} = "
                       f"{'10^9' if u == 'gb' else '2^30'} bytes.", style="dim"))
    _notes(console, report)


def _notes(console: Console, report: EstimateReport) -> None:
    """What each format keeps (said once for the rows it applies to), the notes, and --explain's arithmetic."""
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
            value = f"{h.value:,.0f}" if float(h.value).is_integer() else f"{h.value:g}"
            console.print(Text(f"  {h.name} = {value} {h.unit} — {h.source}", style="dim"))


def _in_host(row: FormatRow) -> int:
    """Weight bytes the engine keeps in host memory rather than VRAM."""
    return row.weight_bytes - row.weights_on_gpu_bytes if row.weights_on_gpu_bytes is not None else 0


def _runtime_line(report: EstimateReport) -> str:
    """What the VRAM column assumes, only as far as it applies: a pipeline and a bare count have no KV cache."""
    if any(r.components for r in report.rows):
        return ""  # the pipeline note says the resolution and batch
    engine = "Engine per row (see the note below)" if report.engine == "per row" else f"Engine {report.engine}"
    if not report.kv_cache:
        if not report.model.architecture:
            return f"{engine}: weights and runtime overhead; no KV cache without the architecture. "
        return f"{engine}; one forward pass of {report.context:,} tokens × batch {report.batch} (no KV cache). "
    kv = report.kv_dtype or "engine default"
    default = "" if report.context_given else " — the default context; set --context"
    return f"{engine}; context {report.context:,} tokens × batch {report.batch} (KV {kv}){default}. "


def _bars(console: Console, report: EstimateReport, width: int = 40) -> None:
    """One stacked bar per row, on a common scale, so the dominant part shows at a glance; parts add up to the total
    (weights here are those on the GPU: llama.cpp keeps some in host memory)."""
    if not any(r.kv_cache_bytes or r.activation_bytes for r in report.rows):
        return
    scale = max(r.total_bytes for r in report.rows) or 1
    console.print(Text("  ") + legend(["weights", "KV cache", "activations", "overhead"]))
    name_w = max(len(r.format) for r in report.rows)
    for r in report.rows:
        on_gpu = r.total_bytes - r.kv_cache_bytes - r.activation_bytes - r.overhead_bytes
        parts = [("weights", on_gpu), ("KV cache", r.kv_cache_bytes), ("activations", r.activation_bytes),
                 ("overhead", r.overhead_bytes)]
        line = Text(f"  {r.format:<{name_w}} ") + stacked_bar(parts, scale, width)
        line.append(f" {format_bytes(r.total_bytes, report.units)}")
        if r.host_bytes:
            line.append(f" (+ {format_bytes(r.host_bytes, report.units)} host)", style="dim")
        console.print(line)


def _components(console: Console, report: EstimateReport) -> None:
    """A row per format, a column per pipeline component, then the two peaks (components are few; formats many)."""
    rows = [r for r in report.rows if r.components]
    if not rows:
        return
    u = report.units
    compact = console.width < 110
    size = _sizer(u, compact)

    table = Table(title="Pipeline components", title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, collapse_padding=compact, pad_edge=not compact,
                  caption=f"sizes in {UNIT_LABEL[u]}" if compact else None, caption_justify="left")
    table.add_column("Format", no_wrap=True)
    names = list(rows[0].components)
    for name in names:  # long component names (text_encoder_2) fold in the header; the numbers never do
        table.add_column(name.replace("_", " ") if compact else (name or "—"), justify="right",
                         overflow="fold", min_width=5)
    table.add_column("All resident", justify="right", style="bold", min_width=5)
    table.add_column("CPU offload", justify="right", style="bold", min_width=5)
    for r in rows:
        table.add_row(r.format, *(size(r.components.get(n, 0)) for n in names), size(r.total_bytes),
                      size(r.offload_peak_bytes or 0))
    console.print(table)
    console.print(Text("All resident: every component's weights + the largest stage's activations + overhead; "
                       "CPU offload: the peak with enable_model_cpu_offload (one component on the GPU at a time).",
                       style="dim"))


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
    first = formats[0]
    console.print(context_chart([(p.context, p.totals[first]) for p in report.context_sweep],
                                limit=report.gpu_memory, units=u, label=first))


def render_formats(report: FormatsReport, console: Console | None = None) -> None:
    """A table on a wide terminal; on a narrow one, one block per format so the notes stay readable."""
    console = console or stdout_console()
    if console.width >= 160:
        table = Table(header_style="bold", show_lines=False)
        for name, kw in (("Name", {"no_wrap": True}), ("Aliases", {}), ("Family", {}),
                         ("Bits/weight", {"justify": "right"}), ("Layout", {}), ("Keeps", {}), ("Notes", {})):
            table.add_column(name, **kw)
        for f in report.formats:
            table.add_row(f.name, ", ".join(f.aliases), f.family, _bpw_cell(f), f.layout, f.keeps, f.notes)
        console.print(table)
        if any(f.typical_bits_per_weight is not None for f in report.formats):
            console.print(Text(_TYPICAL_NOTE, style="dim"))
        return
    import textwrap

    for f in report.formats:
        head = Text(f.name, style="bold")
        head.append(f"  {f.family}, {_bpw_head(f)}", style="cyan")
        if f.aliases:
            head.append(f"  (also {', '.join(f.aliases)})", style="dim")
        console.print(head)
        for label, value in (("layout", f.layout), ("file", _typical(f)), ("keeps", f.keeps),
                             ("range", f.value_range), ("", f.notes)):
            if value:
                text = textwrap.fill(f"{label + ': ' if label else ''}{value}", width=max(40, console.width - 1),
                                     initial_indent="  ", subsequent_indent="  ")
                console.print(Text(text))
        console.print()


def _bpw(bits: float | None) -> str:
    return f"{bits:.6g}" if bits is not None else "—"


_TYPICAL_NOTE = ("llama.cpp file types: bits per weight of a whole file at the reference size (\"at 8B\"): "
                 "llama-quantize's per-tensor rules on the representative Llama-3-shaped decoder — what "
                 "`vramcalc estimate 8B-<type>` prices; the layout's own figure follows it")


def _bpw_cell(f: FormatEntry) -> str:
    """A llama.cpp file type leads with what a whole file costs at the reference size (a mix has no single layout:
    its base type's follows); other formats show their layout's bits per weight."""
    if f.typical_bits_per_weight is None or f.typical_at_params is None:
        return _bpw(f.bits_per_weight)
    return f"{f.typical_bits_per_weight:.4g} at {format_count(f.typical_at_params)} ({_layout_bpw(f)})"


def _bpw_head(f: FormatEntry) -> str:
    if f.typical_bits_per_weight is None or f.typical_at_params is None:
        return f"{_bpw(f.bits_per_weight)} bits/weight"
    return (f"{f.typical_bits_per_weight:.4g} bits/weight at {format_count(f.typical_at_params)} "
            f"({_layout_bpw(f)})")


def _layout_bpw(f: FormatEntry) -> str:
    return f"{f.base_type} layout: {_bpw(f.bits_per_weight)}" if f.base_type else f"layout: {_bpw(f.bits_per_weight)}"


def _typical(f: FormatEntry) -> str | None:
    if f.typical_bits_per_weight is None or f.typical_at_params is None:
        return None
    n = format_count(f.typical_at_params)
    return (f"{f.typical_bits_per_weight:.4g} bits/weight for a whole {n} file: llama-quantize's per-tensor rules "
            f"(the output, the norms and, in mixes, some attn_v/ffn_down in other types) on the representative "
            f"Llama-3-shaped {n} decoder, as `vramcalc estimate {n}-{f.name}` prices it")
