"""Renderer for `vramcalc fit`: one row per format (fits, plan, VRAM, headroom, host memory, longest context, speed
bounds), each row's launch command below the table; without a model, the largest model per format."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vramcalc.cli.render import stdout_console
from vramcalc.fit_report import FitReport, FitRow
from vramcalc.units import UNIT_DIVISOR, UNIT_LABEL, format_count


def _size(n: int | None, units: str) -> str:
    return "—" if n is None else f"{n / UNIT_DIVISOR[units]:,.2f}"


def _rate(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 10 else f"{x:,.2f}"


def _seconds(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 1000:,.0f} ms" if x < 1 else f"{x:,.1f} s"


def _context(row: FitRow) -> str:
    return "—" if row.max_context is None else f"{row.max_context:,}"


def _fits(row: FitRow) -> Text:
    if not row.fits:
        return Text("no", style="red")
    return Text("offload" if row.offloaded else "yes", style="yellow" if row.offloaded else "green")


def _title(report: FitReport) -> str:
    gpus = (f"{report.gpu_count} × {report.gpu}" if report.gpu and report.gpu_count > 1 else report.gpu or
            (f"{report.gpu_count} GPUs" if report.gpu_count > 1 else "one GPU"))
    run = f"{report.context:,} tokens × {report.batch}"
    if report.model is None:
        return f"The largest model on {gpus} at {run}"
    m = report.model
    what = f"{m.source}: {format_count(m.params)} parameters ({m.params:,})"
    return f"{what} on {gpus} at {run}"


def render_fit(report: FitReport, console: Console | None = None) -> None:
    console = console or stdout_console()
    compact = console.width < 110
    console.print(Text(_title(report), style="bold"))
    console.print(Text(f"GPU memory: {report.gpu_memory_basis}"))
    if report.representative:
        console.print(Text(f"Planned on {report.representative}"))
    if report.model is None:
        _largest(console, report, compact)
    else:
        _rows(console, report, compact)
    for note in report.notes:
        console.print(Text(f"• {note}"))
    if report.explain:
        console.print(Text("Arithmetic:", style="bold"))
        for line in report.explain:
            console.print(Text(f"  {line}"))


def _rows(console: Console, report: FitReport, compact: bool) -> None:
    units = report.units
    table = Table(header_style="bold", box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact,
                  collapse_padding=compact, caption=_caption(report, compact), caption_justify="left")
    vllm = any(r.max_concurrency is not None for r in report.rows)
    # narrow terminals: the engine goes into the plan cell and the prefill bound to --explain / --json
    headers = ["Format"] + ([] if compact else ["Engine"]) + ["Fits", "Plan", "VRAM", "Free", "Host", "Max ctx"]
    if vllm:
        headers.append("Seqs")
    headers += ["Decode ≤"] + ([] if compact else ["Prefill ≥"])
    for h in headers:
        right = h not in ("Format", "Engine", "Fits", "Plan")
        table.add_column(h, justify="right" if right else "left", overflow="fold", no_wrap=right,
                         min_width=12 if h == "Plan" else None)
    for r in report.rows:
        plan = f"{r.engine}: {r.plan}" if compact else r.plan
        cells: list[str | Text] = [r.format]
        if not compact:
            cells.append(r.engine)
        cells += [_fits(r), plan, _size(r.vram_bytes, units), _size(r.headroom_bytes, units),
                  _size(r.host_bytes, units), _context(r)]
        if vllm:
            cells.append("—" if r.max_concurrency is None else f"{r.max_concurrency:,}")
        s = r.speed
        decode = _rate(s.decode_tokens_per_s_max) + ("*" if s.gpu_part_only else "") if s else "—"
        cells.append(decode)
        if not compact:
            cells.append(_seconds(s.prefill_seconds_min) if s else "—")
        table.add_row(*cells)
    console.print(table)
    for r in report.rows:
        if r.launch is not None and r.fits:
            console.print(Text(f"{r.format}: {r.launch.command}"))
        if len(r.per_gpu) > 1 and r.fits:
            parts = "; ".join(
                f"GPU {g.device} {_size(g.total_bytes, units)}"
                + (f" ({g.layers} layers)" if g.layers is not None else "") for g in r.per_gpu)
            console.print(Text(f"  per GPU ({UNIT_LABEL[units]}): {parts}"))
        for note in r.notes:
            console.print(Text(f"  {note}"))


def _caption(report: FitReport, compact: bool) -> str:
    units = UNIT_LABEL[report.units]
    margin = ("margin " + (f"{report.margin / 2**20:,.0f} MiB" if report.margin is not None else
                           "per engine (llama.cpp 1024 MiB, vLLM 10 %, transformers 10 %)"))
    return (f"sizes in {units} per GPU (the fullest); Free: usable − VRAM; Host: kept in host memory; {margin}; "
            "Decode ≤ tokens/s and Prefill ≥ time are bounds from the catalog's bandwidth and throughput "
            "(* the GPUs' part only: host memory is slower still)")


def _largest(console: Console, report: FitReport, compact: bool) -> None:
    units = report.units
    table = Table(header_style="bold", box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact,
                  collapse_padding=compact, caption=_caption(report, compact), caption_justify="left")
    for h in ("Format", "Engine", "Largest", "Layers", "VRAM", "Free", "Max ctx", "Decode ≤"):
        table.add_column(h, justify="left" if h in ("Format", "Engine") else "right", no_wrap=True)
    for m in report.largest:
        f = m.fit
        layers = m.decoder.split(" layers", 1)[0] if " layers" in m.decoder else "—"
        table.add_row(m.format, m.engine, format_count(m.params) if m.params else "none", layers,
                      _size(f.vram_bytes if f else None, units), _size(f.headroom_bytes if f else None, units),
                      _context(f) if f else "—", _rate(f.speed.decode_tokens_per_s_max) if f and f.speed else "—")
    console.print(table)
    for m in report.largest:
        if m.fit is not None and m.fit.launch is not None:
            console.print(Text(f"{m.format}: {format_count(m.params)} = {m.decoder}"))
