"""vLLM (V1): preallocates gpu_memory_utilization of each GPU; the KV cache, in pages, takes what the weights, the
start-up profile run's activation peak and non-torch memory leave; tensor parallelism over GPUs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vramcalc import heuristics as H
from vramcalc.calculator.engines.base import EngineProfile, RowWeights, RuntimeEstimate, RuntimeRequest, no_architecture
from vramcalc.calculator.kv import VLLM_BLOCK, kv_bytes_per_token, kv_cache_bytes

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.calculator.gpu_fit import Split


class VllmProfile(EngineProfile):
    name = "vllm"
    label = "vLLM (V1): preallocates gpu_memory_utilization × GPU memory; paged KV in blocks of 16 tokens"
    options = ("--gpu-memory-utilization", "--max-num-batched-tokens", "--max-num-seqs")
    # kv_cache_dtype: auto (the model's), or fp8/fp8_e4m3/fp8_e5m2
    kv_dtypes = ("fp32", "fp16", "bf16", "fp8", "fp8_e4m3", "fp8_e5m2")

    def utilization(self, request: RuntimeRequest) -> float:
        return request.gpu_memory_utilization or H.VLLM_GPU_MEMORY_UTILIZATION.value

    def split(self, est: RuntimeEstimate, gpu_memory: int, arch: Architecture | None,
              request: RuntimeRequest) -> Split | None:
        from vramcalc.calculator.gpu_fit import tensor_parallel_split

        return tensor_parallel_split(weights_on_gpu=est.weights_on_gpu, kv_bytes=est.kv_cache_bytes,
                                     activation_bytes=est.activation_bytes, overhead_bytes=est.overhead_bytes,
                                     gpu_memory=gpu_memory, arch=arch, utilization=self.utilization(request))

    def fits(self, est: RuntimeEstimate, request: RuntimeRequest, gpu_memory: int) -> bool:
        # its budget is fixed; a context fits while the KV space left holds --batch sequences of it
        return (est.max_concurrency or 0) >= request.batch

    def memory(self, arch: Architecture | None, w: RowWeights, r: RuntimeRequest) -> RuntimeEstimate:
        weights, act_bytes = w.weight_bytes, w.act_bytes
        gpu = r.gpu_memory or H.H100_MEMORY.as_int()
        util = r.gpu_memory_utilization or H.VLLM_GPU_MEMORY_UTILIZATION.value
        est = RuntimeEstimate("vllm", weights_on_gpu=weights,
                              heuristics=[H.VLLM_GPU_MEMORY_UTILIZATION, H.VLLM_BLOCK_SIZE])
        if r.gpu_memory is None:
            est.heuristics.append(H.H100_MEMORY)
        est._overhead("non_torch_memory", H.VLLM_NON_TORCH.as_int(), H.VLLM_NON_TORCH)
        est._overhead("cuda_graphs", H.VLLM_CUDA_GRAPHS.as_int(), H.VLLM_CUDA_GRAPHS)
        budget = int(gpu * util)
        # vLLM fills its whole budget (the KV cache takes what the rest leaves); CUDA graphs come on top of it
        est.process_bytes = budget + H.VLLM_CUDA_GRAPHS.as_int()
        if arch is None:
            est.activation_bytes = H.VLLM_ACTIVATION_DENSE.as_int()
            est.parts["activations: profiled peak"] = est.activation_bytes
            est.heuristics.append(H.VLLM_ACTIVATION_DENSE)
            return no_architecture(est)
        from vramcalc.calculator import activations as A

        # The profile run vLLM does at start-up, with its scheduler limits at their defaults unless given: passing a
        # flag at its default value gives the same answer as leaving it out.
        mnbt = r.max_num_batched_tokens or H.VLLM_MAX_NUM_BATCHED_TOKENS.as_int()
        if r.max_num_batched_tokens is None:
            est.heuristics.append(H.VLLM_MAX_NUM_BATCHED_TOKENS)
        est._activations(A.vllm_profile(arch, mnbt, r.max_num_seqs or H.VLLM_MAX_NUM_SEQS.as_int(), act_bytes))
        kv_dtype = est.kv_dtype = self.kv_dtype(r, act_bytes)
        per_seq = kv_cache_bytes(arch, r.context, 1, kv_dtype, "vllm", max_num_batched_tokens=mnbt,
                                 registry=r.registry)
        est.kv_cache_bytes = per_seq * r.batch
        # vLLM sizes the cache from what is left of the budget after weights, the profiled peak and non-torch memory;
        # CUDA graphs are captured afterwards, in the headroom outside the budget.
        free = budget - weights - est.activation_bytes - H.VLLM_NON_TORCH.as_int()
        per_token = kv_bytes_per_token(arch, kv_dtype, "vllm", registry=r.registry)
        if free > 0 and per_token:
            est.kv_capacity_tokens = int(free / per_token) // VLLM_BLOCK * VLLM_BLOCK
            est.max_concurrency = free // per_seq if per_seq else None
        else:
            est.kv_capacity_tokens, est.max_concurrency = 0, 0
            est.warnings.append(f"vLLM: the weights and activations do not fit in {util:g} × {gpu / 1e9:.1f} GB: "
                                "no room for a KV cache (raise --gpu-memory-utilization or pick a smaller format)")
        if est.max_concurrency is not None and est.max_concurrency < r.batch:
            est.warnings.append(f"vLLM: room for {est.max_concurrency} sequences of {r.context:,} tokens, fewer than "
                                f"--batch {r.batch}")
        est.explain.append(
            f"vllm: budget {util:g} × {gpu:,} = {budget:,} B; free for KV = budget − weights − activations − non-torch "
            f"= {free:,} B; pages of {VLLM_BLOCK} tokens, {per_seq:,} B per sequence of {r.context:,} tokens "
            f"→ {est.kv_capacity_tokens:,} tokens, {est.max_concurrency} concurrent sequences")
        est.notes.append(f"vLLM preallocates {util:g} of the GPU ({budget / 1e9:.1f} GB) whatever the model needs; "
                         f"KV capacity {est.kv_capacity_tokens:,} tokens = {est.max_concurrency} sequences of "
                         f"{r.context:,} tokens")
        return est
