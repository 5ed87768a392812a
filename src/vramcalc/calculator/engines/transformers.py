"""transformers: generate() with sdpa attention, a DynamicCache and PyTorch's caching allocator."""

from __future__ import annotations

from math import ceil
from typing import TYPE_CHECKING

from vramcalc import heuristics as H
from vramcalc.calculator.engines.base import EngineProfile, RowWeights, RuntimeEstimate, RuntimeRequest, no_architecture
from vramcalc.calculator.kv import kv_cache_bytes, prefill_storage_bytes

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture


class TransformersProfile(EngineProfile):
    name = "transformers"
    label = "transformers generate() with sdpa attention, DynamicCache, PyTorch caching allocator"
    # DynamicCache stores the model's float dtype
    kv_dtypes = ("fp32", "fp16", "bf16")

    def memory(self, arch: Architecture | None, w: RowWeights, r: RuntimeRequest) -> RuntimeEstimate:
        weights, act_bytes = w.weight_bytes, w.act_bytes
        est = RuntimeEstimate("transformers", weights_on_gpu=weights)
        est._overhead("cuda_context", H.CUDA_CONTEXT.as_int(), H.CUDA_CONTEXT)
        est._overhead("cublas_workspace", H.CUBLAS_WORKSPACE.as_int(), H.CUBLAS_WORKSPACE)
        if arch is None:
            return no_architecture(est)
        from vramcalc.calculator import activations as A  # only with an architecture: off a bare count's start-up

        kv_dtype = est.kv_dtype = self.kv_dtype(r, act_bytes)
        est.kv_cache_bytes = kv_cache_bytes(arch, r.context, r.batch, kv_dtype, "transformers", registry=r.registry)
        peak = A.transformers_prefill(arch, r.batch, r.context, act_bytes)
        pinned = prefill_storage_bytes(arch, r.context, r.batch, kv_dtype, registry=r.registry) - est.kv_cache_bytes
        if pinned > 0:
            peak.parts.append(A.Part("sliding-layer KV during prefill", pinned,
                                     "sliding layers keep a window-sized view of the prompt-length K/V until the first "
                                     "decode step"))
        est._activations(peak)
        growth = est.activation_bytes + est.kv_cache_bytes
        est.peak_allocated_bytes = weights + H.CUBLAS_WORKSPACE.as_int() + growth
        reused = sum(p.nbytes for p in peak.parts if p.reused_whole)
        slack = ceil(H.TRANSFORMERS_ALLOCATOR_SLACK.value * (growth - reused))
        est._overhead("allocator_slack", slack, H.TRANSFORMERS_ALLOCATOR_SLACK)
        est.peak_reserved_bytes = est.peak_allocated_bytes + slack
        est.explain.append(f"transformers KV (DynamicCache, {kv_dtype}): {r.batch} × {r.context:,} tokens = "
                           f"{est.kv_cache_bytes:,} B")
        est.explain.append(f"transformers overhead: CUDA context {H.CUDA_CONTEXT.as_int():,} + cuBLAS workspace "
                           f"{H.CUBLAS_WORKSPACE.as_int():,} + allocator slack {H.TRANSFORMERS_ALLOCATOR_SLACK.value:g}"
                           f" × (activations + KV) {slack:,} B")
        return est
