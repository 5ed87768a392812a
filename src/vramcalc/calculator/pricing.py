"""One pricer: what a row's weights need at run time under its engine — memory parts, the split over GPUs of a given
size, the longest context that fits one, VRAM against context. Pure and frozen: estimate, compare and fit all call
it, and assemble reports from what it returns; nothing is patched afterwards.

    priced = price_row(RowWeights(weight_bytes=16_060_522_496), arch, RuntimeRequest(context=8192, gpu_memory=…))
    priced.runtime.total_bytes, priced.split, priced.max_context, priced.sweep
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vramcalc.calculator.engines import RowWeights, RuntimeEstimate, RuntimeRequest, profile, runtime_memory

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.calculator.gpu_fit import Split

MAX_CONTEXT_SEARCH = 1 << 20  # tokens: the ceiling of the max-context search when the model states none


@dataclass(frozen=True)
class RowEstimate:
    """A row priced under one engine. `split` is None when no GPU size was given or more than MAX_GPUS are needed
    (`gpus_exceeded`); `max_context` None when no GPU size was given or the architecture is unknown."""

    engine: str
    runtime: RuntimeEstimate
    split: Split | None = None
    gpus_exceeded: bool = False
    max_context: int | None = None
    sweep: tuple[tuple[int, int], ...] = ()  # (context, total bytes)
    utilization: float = 1.0


def _estimate(arch: Architecture | None, weights: RowWeights, request: RuntimeRequest) -> RuntimeEstimate:
    return runtime_memory(arch, weights.weight_bytes, request, act_bytes=weights.act_bytes,
                          embedding_bytes=weights.embedding_bytes, output_bytes=weights.output_bytes,
                          largest_tensor_bytes=weights.largest_tensor_bytes)


def price_row(weights: RowWeights, arch: Architecture | None, request: RuntimeRequest,
              sweep_contexts: tuple[int, ...] = ()) -> RowEstimate:
    """The row at `request.context`; with `request.gpu_memory` also its GPU split and (with an architecture) the
    longest context on one GPU; at each of `sweep_contexts` its total."""
    engine = profile(request.engine)
    est = _estimate(arch, weights, request)
    split, exceeded, max_context = None, False, None
    if request.gpu_memory:
        split = engine.split(est, request.gpu_memory, arch, request)
        exceeded = split is None
        if arch is not None:
            max_context = longest_context(weights, arch, request)
    sweep = tuple((c, _estimate(arch, weights, replace(request, context=c)).total_bytes) for c in sweep_contexts)
    return RowEstimate(request.engine, est, split, exceeded, max_context, sweep, engine.utilization(request))


def longest_context(weights: RowWeights, arch: Architecture, request: RuntimeRequest) -> int:
    """Inverse solving: the longest context this row runs at on one GPU of request.gpu_memory (vLLM: the context at
    which its KV budget still holds request.batch sequences), capped at the model's maximum; 0 if none."""
    from vramcalc.calculator.gpu_fit import largest_context

    assert request.gpu_memory is not None
    engine, limit = profile(request.engine), request.gpu_memory

    def fits(context: int) -> bool:
        return engine.fits(_estimate(arch, weights, replace(request, context=context)), request, limit)

    return largest_context(fits, int(arch.max_context or MAX_CONTEXT_SEARCH))
