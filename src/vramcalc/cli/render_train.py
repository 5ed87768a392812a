"""Render a TrainReport: one column per (method, precision), one line per memory term, the peak under them."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vramcalc.cli.render import stdout_console
from vramcalc.train_report import TrainReport, TrainRow
from vramcalc.units import format_bytes, format_count

# the table's short forms (the JSON and --explain carry the full names)
_SHORT = {"paged-adamw-8bit": "paged 8-bit", "adamw-8bit": "adamw 8-bit", "adamw-fused": "fused adamw"}
_PHASE = {"optimizer step": "optim. step"}


def _b(n: int, units: str) -> str:
    return format_bytes(n, units) if n else "—"


def render_train(report: TrainReport, console: Console | None = None) -> None:
    console = console or stdout_console()
    u = report.units
    m = report.model
    head = f"{m.source}: {format_count(m.params)} parameters ({m.params:,})"
    console.print(head)
    console.print(Text("training step: " + ", ".join(_setup(report)) + " — bytes per GPU", style="italic"))
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("", no_wrap=True)
    for r in report.rows:
        table.add_column(f"{r.method} {r.precision}", justify="right", overflow="fold")
    rows = report.rows

    def line(name: str, cells: list[str], style: str | None = None) -> None:
        table.add_row(name, *cells, style=style)

    line("optimizer", [_SHORT.get(r.optimizer, r.optimizer) for r in rows])
    line("trainable", [f"{format_count(r.trainable_params)}" for r in rows])
    bd = [r.breakdown for r in rows]
    line("weights", [_b(b.weights_bytes, u) for b in bd])
    if any(b.master_weights_bytes for b in bd):
        line("fp32 master", [_b(b.master_weights_bytes, u) for b in bd])
    line("gradients", [_b(b.gradient_bytes, u) for b in bd])
    line("opt. states", [_b(b.optimizer_state_bytes + b.paged_state_bytes, u) for b in bd])
    line("activations", [_b(b.activation_bytes, u) for b in bd])
    if any(b.autocast_weight_copy_bytes for b in bd):
        line("autocast copies", [_b(b.autocast_weight_copy_bytes, u) for b in bd])
    line("logits + loss", [_b(b.logits_loss_bytes, u) for b in bd])
    line("step temps", [_b(b.optimizer_step_temp_bytes, u) for b in bd])
    if any(b.sharding_bytes for b in bd):
        line("gathered/buckets", [_b(b.sharding_bytes, u) for b in bd])
    line("peak set by", [_PHASE.get(r.peak_phase, r.peak_phase) for r in rows])
    line("peak allocated", [format_bytes(r.peak_allocated_bytes, u) for r in rows], "bold")
    line("+ slack, CUDA", [format_bytes(r.breakdown.allocator_slack_bytes + r.breakdown.cuda_context_bytes, u)
                               for r in rows])
    line("VRAM per GPU", [format_bytes(r.total_bytes, u) for r in rows], "bold")
    if any(r.host_bytes for r in rows):
        line("host RAM per GPU", [_b(r.host_bytes, u) for r in rows])
    if report.gpu_memory is not None:
        line(f"fits {format_bytes(report.gpu_memory, u)}", [_fits(r) for r in rows])
        if report.fit == "batch":
            line("largest micro-batch", [f"{r.max_batch:,}" if r.max_batch else "none" for r in rows], "bold")
        elif report.fit == "seq-len":
            line("longest sequence", [f"{r.max_seq_len:,}" if r.max_seq_len else "none" for r in rows], "bold")
    console.print(table)
    _footer(console, report)


def _setup(report: TrainReport) -> list[str]:
    setup = [f"{report.batch} × {report.seq_len:,} tokens"]
    if report.grad_accum > 1:
        setup.append(f"grad-accum {report.grad_accum}")
    if report.gradient_checkpointing:
        setup.append("gradient checkpointing")
    if report.gpus > 1 or report.sharding != "none":
        setup.append(f"{report.gpus} GPUs, {report.sharding}")
    if report.lora_rank is not None:
        setup.append(f"LoRA r={report.lora_rank} on {','.join(report.lora_targets)}")
    return setup


def _footer(console: Console, report: TrainReport) -> None:
    rows = report.rows
    notes = list(dict.fromkeys([*report.notes, *(n for r in rows for n in r.notes)]))
    for n in notes:
        console.print(Text(f"• {n}", style="dim"))
    for r in rows:
        if r.explain:
            console.print(Text(f"{r.method} {r.precision} ({r.optimizer_implementation}):", style="bold"))
            for e in r.explain:
                console.print(f"  {e}")
    if any(r.explain for r in rows):
        for h in report.heuristics:
            console.print(Text(f"  [{h.name}] {h.value:g} {h.unit} — {h.source}", style="dim"))
    elif report.heuristics:
        console.print(Text(f"Heuristic constants used: {', '.join(h.name for h in report.heuristics)} — each with "
                           "its source in --explain and --json", style="dim"))


def _fits(r: TrainRow) -> str:
    return "yes" if r.fits else "no"
