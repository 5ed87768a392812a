"""Renderer for `vramcalc gpus`: one row per device; with names given, every figure's source below."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vramcalc.cli.render import stdout_console
from vramcalc.gpus_report import GpuEntry, GpusReport

GIB = 2**30


def _tflops(x: float | None) -> str:
    return "—" if x is None else f"{x:,.4g}" if x < 1000 else f"{x:,.0f}"


def _basis(g: GpuEntry, compact: bool) -> str:
    """Where the memory figure comes from: the driver's report, the marketed size, or the GPU's share of RAM."""
    if g.unified_memory:
        return f"{g.gpu_share} of {g.memory_gib:g} GiB RAM" if not compact else f"{g.gpu_share} RAM"
    if g.memory_basis == "driver":
        return f"{g.memory_mib:,} MiB ({g.reported_by})" if not compact else (g.reported_by or "driver")
    return "marketed"


def render_gpus(report: GpusReport, console: Console | None = None, details: bool = False) -> None:
    console = console or stdout_console()
    compact = console.width < 110  # as estimate's table: plain numbers, short headers, no vertical rules
    table = Table(header_style="bold", box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact,
                  collapse_padding=compact,
                  caption=("GiB/GB: what --gpu NAME budgets (unified memory: the GPU's default share of RAM); "
                           "From: the driver's report, the marketed size, or the share of RAM; BW in GB/s; "
                           "BF16/FP8: dense TFLOPS") if compact else
                          "BF16/FP8/FP4: dense tensor TFLOPS; CC: CUDA compute capability",
                  caption_justify="left")
    rows = []
    for g in report.gpus:
        cells = [g.name, f"{g.usable_bytes / GIB:,.2f}", f"{g.usable_bytes / 1e9:,.2f}", _basis(g, compact),
                 "—" if g.bandwidth_gbs is None else f"{g.bandwidth_gbs:,.0f}", _tflops(g.bf16_tflops),
                 _tflops(g.fp8_tflops)]
        if not compact:
            link = g.interconnect or "—"
            if g.interconnect_gbs:
                link += f" {g.interconnect_gbs:,.0f} GB/s"
            cells += [_tflops(g.fp4_tflops), g.compute_capability or "—", link]
        rows.append(cells)
    headers = (["GPU", "GiB", "GB", "From", "BW", "BF16", "FP8"] if compact else
               ["GPU", "GiB", "GB", "Memory as", "BW GB/s", "BF16", "FP8", "FP4", "CC", "Link"])
    for i, header in enumerate(headers):
        # numbers are never cut: each numeric column is as wide as its widest cell; the words wrap instead
        words = header in ("Memory as", "Link", "From")
        width = max([len(header), *(len(r[i]) for r in rows)])
        table.add_column(header, justify="left" if i == 0 or words else "right", no_wrap=not words,
                         min_width=None if words else width, style="dim" if header == "GB" else None,
                         overflow="fold")
    for cells in rows:
        table.add_row(*cells)
    console.print(table)
    console.print(Text("GiB = 2^30 bytes, GB = 10^9. Cards are sold in GiB (a \"24 GB\" card has 24 GiB); the driver "
                       "reports a little less (nvidia-smi: an RTX 4090 has 24,564 MiB). `vramcalc gpus NAME` shows "
                       "every figure's source; --gpus FILE adds devices.", style="dim"))
    if details:
        for g in report.gpus:
            _details(console, g)
    elif report.unified_memory_rule and any(g.unified_memory for g in report.gpus):
        console.print(Text("Unified memory: the GPU's default share of RAM under macOS "
                           "(recommendedMaxWorkingSetSize); `vramcalc gpus \"M3 Max 36GB\"` cites the measurements.",
                           style="dim"))


def _details(console: Console, g: GpuEntry) -> None:
    head = Text(f"\n{g.name}", style="bold")
    if g.aliases:
        head.append(f"  (also {', '.join(g.aliases)})", style="dim")
    console.print(head)
    if g.notes:
        console.print(Text(f"  {g.notes}"))
    for figure, source in g.sources.items():
        value = getattr(g, figure, None)
        shown = f"{value:,g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
        console.print(Text(f"  {figure} = {shown}: ", style="cyan") + Text(source))
