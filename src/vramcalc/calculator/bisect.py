"""Searches over a monotone test (memory only grows with context, batch or layers on the GPU): the one place
fit, the GPU columns and train find their largest or smallest setting that fits."""

from __future__ import annotations

from collections.abc import Callable


def largest(ok: Callable[[int], bool], lo: int, hi: int, *, gallop: bool = False) -> int | None:
    """The largest k in [lo, hi] with ok(k) (ok true, then false), None if not even ok(lo). `gallop` doubles from
    lo first: fewer evaluations when the answer is small beside hi (a batch size under a ceiling of millions)."""
    if hi < lo or not ok(lo):
        return None
    if gallop:
        top = lo
        while top < hi and ok(_gallop(top, lo, hi)):
            top = _gallop(top, lo, hi)
        if top >= hi:
            return hi
        lo, hi = top, _gallop(top, lo, hi)  # ok(lo), not ok(hi)
    elif ok(hi):
        return hi
    while hi - lo > 1:  # ok(lo), not ok(hi)
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _gallop(top: int, lo: int, hi: int) -> int:
    """The next step out from `top`: its double once positive, until then twice its distance from `lo` (doubling
    zero or a negative number would only creep up by one)."""
    return min(top * 2 if top >= 1 else lo + 2 * (top - lo) + 1, hi)


def smallest(ok: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """The smallest k in [lo, hi] with ok(k) (ok false, then true), None if not even ok(hi): one past the largest k
    where ok fails."""
    if hi < lo or not ok(hi):
        return None
    failing = largest(lambda k: not ok(k), lo, hi - 1)
    return lo if failing is None else failing + 1
