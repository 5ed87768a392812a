"""Terminal charts: a stacked bar of what fills the GPU, and VRAM against context.

Cells are shared out by largest remainder, so a bar's length is exactly its total on the common scale and its parts
add up to it; a part too small for a whole cell still shows as a thin mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text

from vramcalc.units import format_bytes

# Colours by part name (prefix match), the same in every chart and its legend.
PART_COLOURS: tuple[tuple[str, str], ...] = (
    ("weights", "blue"),
    ("kv", "magenta"),
    ("activations", "yellow"),
    ("overhead", "bright_black"),
    ("host", "cyan"),
)
FULL, THIN = "█", "▏"


def colour_of(name: str) -> str:
    key = name.lower().replace(" ", "")
    for prefix, colour in PART_COLOURS:
        if key.startswith(prefix):
            return colour
    return "white"


def _cells(values: Sequence[int], scale: int, width: int) -> list[int]:
    """Whole cells per value so that they sum to round(width × total / scale) (largest remainder)."""
    if scale <= 0 or width <= 0:
        return [0] * len(values)
    exact = [width * max(v, 0) / scale for v in values]
    target = min(width, round(sum(exact)))
    cells = [int(x) for x in exact]
    order = sorted(range(len(values)), key=lambda i: exact[i] - cells[i], reverse=True)
    for i in order[: max(0, target - sum(cells))]:
        cells[i] += 1
    return cells


def stacked_bar(parts: list[tuple[str, int]], scale: int, width: int = 40) -> Text:
    """One bar: each (name, bytes) part a run of cells in its colour, the whole bar `total / scale × width` long."""
    bar = Text()
    for (name, value), n in zip(parts, _cells([v for _, v in parts], scale, width), strict=True):
        if n:
            bar.append(FULL * n, style=colour_of(name))
        elif value > 0:
            bar.append(THIN, style=colour_of(name))
    return bar


def legend(names: Iterable[str]) -> Text:
    """`█ weights  █ KV cache …` in the bars' colours."""
    text = Text()
    for name in names:
        text.append(FULL, style=colour_of(name))
        text.append(f" {name}  ")
    return text


def context_chart(points: list[tuple[int, int]], *, width: int = 40, limit: int | None = None,
                  units: str = "gb", label: str = "") -> Text:
    """VRAM against context: one row per (context, bytes), on a common scale.

    With `limit` (the GPU's memory) a `┃` marks it on every row, the cells beyond it turn red and the row says so.
    """
    text = Text()
    if not points:
        return text
    top = max([v for _, v in points] + ([limit] if limit else [])) or 1
    mark = round(width * limit / top) if limit else None
    ctx_w = max(len(f"{c:,}") for c, _ in points)
    for context, value in points:
        n = _cells([value], top, width)[0]
        row = Text(f"  {context:>{ctx_w},} ")
        for i in range(width):
            if mark is not None and i == mark:
                row.append("┃", style="bold red")
            if i < n:
                row.append(FULL, style="red" if mark is not None and i >= mark else "green")
            elif mark is not None and i < mark:
                row.append(" ")
        if mark is not None and mark >= width:
            row.append("┃", style="bold red")
        row.append(f" {format_bytes(value, units)}")
        if label:
            row.append(f" ({label})")
        if limit and value > limit:
            row.append(" exceeds the GPU", style="bold red")
        text.append(row)
        text.append("\n")
    text.rstrip()
    return text
