"""Terminal charts: bar lengths add up, small parts stay visible, the GPU limit is marked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vramcalc.cli.charts import FULL, THIN, colour_of, context_chart, legend, stacked_bar


def _styles(text: object) -> list[tuple[str, str]]:
    from rich.text import Text

    assert isinstance(text, Text)
    return [(text.plain[s.start:s.end], str(s.style)) for s in text.spans]


def test_stacked_bar_lengths_and_colours() -> None:
    bar = stacked_bar([("weights", 16), ("KV cache", 4), ("activations", 2), ("overhead", 2)], scale=24, width=24)
    assert bar.plain == FULL * 24
    assert _styles(bar) == [(FULL * 16, "blue"), (FULL * 4, "magenta"), (FULL * 2, "yellow"),
                            (FULL * 2, "bright_black")]
    half = stacked_bar([("weights", 6), ("KV cache", 6)], scale=24, width=24)
    assert half.plain == FULL * 12 and _styles(half)[0] == (FULL * 6, "blue")  # 12 of 24 → half the width
    # a part too small for a cell still shows, thinly
    tiny = stacked_bar([("weights", 1000), ("KV cache", 1)], scale=1000, width=10)
    assert tiny.plain == FULL * 10 + THIN


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=6), st.integers(1, 80))
def test_cells_add_up(values: list[int], width: int) -> None:
    scale = max(sum(values), 1)
    bar = stacked_bar([(f"p{i}", v) for i, v in enumerate(values)], scale=scale, width=width)
    assert bar.plain.count(FULL) == round(width * sum(values) / scale)


def test_legend_and_colours() -> None:
    assert legend(["weights", "KV cache"]).plain == f"{FULL} weights  {FULL} KV cache  "
    assert colour_of("KV cache") == "magenta" and colour_of("activations: MLP") == "yellow"
    assert colour_of("something else") == "white"


def test_context_chart_marks_the_gpu() -> None:
    gb = 10**9
    chart = context_chart([(4096, 20 * gb), (32768, 40 * gb), (131072, 100 * gb)], width=20, limit=80 * gb,
                          label="bf16")
    lines = chart.plain.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("    4,096 ") and "20.00 GB (bf16)" in lines[0]
    assert all("┃" in line for line in lines)
    assert "exceeds the GPU" in lines[2] and "exceeds" not in lines[1]
    assert lines[2].count(FULL) == 20 and lines[1].count(FULL) == 8
    assert context_chart([]).plain == ""
