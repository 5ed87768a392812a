"""The monotone searches fit, the GPU columns and train share (calculator/bisect.py), against a linear scan."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vramcalc.calculator.bisect import largest, smallest


@given(lo=st.integers(-5, 50), span=st.integers(-2, 200), cut=st.integers(-10, 260), gallop=st.booleans())
def test_largest_and_smallest_agree_with_a_scan(lo: int, span: int, cut: int, gallop: bool) -> None:
    hi = lo + span
    calls: list[int] = []

    def below(k: int) -> bool:  # true, then false: everything under `cut` fits
        assert lo <= k <= hi, "asked outside the range"
        calls.append(k)
        return k < cut

    fits = [k for k in range(lo, hi + 1) if k < cut]
    assert largest(below, lo, hi, gallop=gallop) == (max(fits) if fits and fits[0] == lo else None)
    assert len(calls) <= 2 * max(1, span).bit_length() + 4  # a search, not a scan

    def at_least(k: int) -> bool:  # false, then true
        assert lo <= k <= hi
        return k >= cut

    ok = [k for k in range(lo, hi + 1) if k >= cut]
    assert smallest(at_least, lo, hi) == (min(ok) if ok else None)
