from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramcalc.errors import UsageError
from vramcalc.units import format_bytes, format_count_exact, parse_count, parse_label, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12B", 12_000_000_000),
        ("12b", 12_000_000_000),
        ("7.6B", 7_600_000_000),
        ("1.5T", 1_500_000_000_000),
        ("135M", 135_000_000),
        ("350k", 350_000),
        ("12e9", 12_000_000_000),
        ("12,000,000,000", 12_000_000_000),
        ("12_000_000_000", 12_000_000_000),
        (" 8 B ", 8_000_000_000),
        ("0.5B", 500_000_000),
    ],
)
def test_parse_count(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize("text", ["twelve", "", "12X", "-3B", "0", "1,2,3", "12..5B", "B"])
def test_parse_count_rejects(text: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_count(text)
    assert "12B" in str(e.value)  # the message shows a form that works


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24GB", 24 * 10**9),
        ("24 GiB", 24 * 2**30),
        ("80G", 80 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5TB", 1_500 * 10**9),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["24 parsecs", "GB", "-1GB", "0GB"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


def test_labels() -> None:
    q = parse_label("32B-Q4_K_M")
    assert (q.total_params, q.format_name) == (32 * 10**9, "Q4_K_M")
    assert parse_label("7B-Q8_0").format_name == "Q8_0"
    assert parse_label("70B-FP16").format_name == "FP16"
    moe = parse_label("8x7B")
    assert (moe.total_params, moe.experts, moe.expert_params) == (56 * 10**9, 8, 7 * 10**9)
    a = parse_label("30B-A3B")
    assert (a.total_params, a.active_params, a.format_name) == (30 * 10**9, 3 * 10**9, None)
    a2 = parse_label("30B-A3B-Q4_K_M")
    assert (a2.total_params, a2.active_params, a2.format_name) == (30 * 10**9, 3 * 10**9, "Q4_K_M")
    assert parse_label("8x22B-Q4_0").experts == 8


def test_label_active_above_total_refused() -> None:
    with pytest.raises(UsageError, match="exceed"):
        parse_label("3B-A30B")


@given(st.integers(min_value=1, max_value=10**16))
def test_count_round_trip(n: int) -> None:
    assert parse_count(format_count_exact(n)) == n


def test_format_bytes_units() -> None:
    assert format_bytes(24_000_000_000, "gb") == "24.00 GB"
    assert format_bytes(24_000_000_000, "gib") == "22.35 GiB"
    assert format_bytes(50_000_000, "gb") == "50.00 MB"
    assert format_bytes(500_000_000, "gb") == "0.50 GB"
