"""Rich rendering of the inspect report (stdout); its warnings go to stderr through the output sink."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from vramcalc.cli.render import stdout_console
from vramcalc.inspect_report import InspectReport, Share
from vramcalc.units import format_bytes, format_count


def _share_table(title: str, shares: list[Share], total: int) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for col, justify in (("", "left"), ("Tensors", "right"), ("Parameters", "right"), ("Bytes", "right"),
                         ("Share", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in shares:
        table.add_row(s.name or "—", f"{s.tensors:,}", f"{format_count(s.params)}", format_bytes(s.bytes, "gb"),
                      f"{100 * s.bytes / total:.1f}%" if total else "—")
    return table


def render_inspect(r: InspectReport) -> None:
    out = stdout_console()
    head = f"{r.source} ({r.kind}): {format_count(r.params)} parameters ({r.params:,})"
    if r.active_params:
        head += f", {format_count(r.active_params)} active per token"
    out.print(Text(head, style="bold"))
    if r.kind != "config":
        out.print(f"tensor data {format_bytes(r.bytes, 'gb')} ({r.bytes:,} bytes, {r.bits_per_weight:.3f} bits per "
                  f"weight) in {len(r.files)} file(s) of {format_bytes(r.file_bytes, 'gb')}; headers "
                  f"{r.header_bytes:,} bytes" + (f"; llama.cpp file type {r.file_type}" if r.file_type else ""))
    else:
        out.print(f"counted from config.json: {format_bytes(r.bytes, 'gb')} as the checkpoint would store it "
                  "(no weights read)")
    if r.quantization:
        q = r.quantization
        out.print(f"packed quantized checkpoint: {q.scheme}" + (f", {q.bits:g}-bit" if q.bits else "")
                  + (f", group {q.group_size}" if q.group_size else "")
                  + f"; headers count {r.stored_elements:,} stored elements for {r.params:,} parameters")
    if r.architecture:
        a = r.architecture
        parts = [f"{k} {v}" for k, v in a.items() if v not in (None, {}, [])]
        out.print(Text("architecture: " + ", ".join(parts), style="dim"))
    out.print(_share_table("By dtype", r.by_dtype, r.bytes))
    out.print(_share_table("By part of the model", r.by_class, r.bytes))
    if r.by_component:
        out.print(_share_table("By pipeline component", r.by_component, r.bytes))
    if r.tensors is not None:
        table = Table(title=f"Tensors ({len(r.tensors)})", title_justify="left", header_style="bold")
        for col in ("Name", "Dtype", "Shape", "Bytes"):
            table.add_column(col, justify="right" if col == "Bytes" else "left")
        for t in r.tensors:
            table.add_row(t.name, t.dtype, "×".join(map(str, t.shape)) or "scalar", f"{t.bytes:,}")
        out.print(table)

