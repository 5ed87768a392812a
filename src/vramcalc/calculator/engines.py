"""Runtime memory per engine: KV cache, activations and overhead on top of the weights.

Each profile names its assumptions; every constant is a `Heuristic` with its source, listed by --explain.

    est = runtime_memory(arch, weight_bytes, RuntimeRequest(engine="vllm", context=8192))
    est.total_bytes, est.parts, est.kv_capacity_tokens, est.max_concurrency
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import TYPE_CHECKING

from vramcalc import heuristics as H
from vramcalc.calculator.kv import (
    DEFAULT_KV_DTYPE,
    ENGINES,
    LLAMACPP_PAD,
    VLLM_BLOCK,
    check_kv_dtype,
    kv_bytes_per_token,
    kv_cache_bytes,
    prefill_storage_bytes,
)
from vramcalc.errors import UsageError

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.calculator import activations as A

__all__ = ["ENGINES", "RuntimeEstimate", "RuntimeRequest", "architecture_from_flags", "runtime_memory"]

ENGINE_LABELS = {
    "transformers": "transformers generate() with sdpa attention, DynamicCache, PyTorch caching allocator",
    "vllm": "vLLM (V1): preallocates gpu_memory_utilization × GPU memory; paged KV in blocks of 16 tokens",
    "llama.cpp": "llama.cpp (llama-server / llama-cli): GGUF weights, f16 KV padded to 256 cells, ggml compute buffer",
}


@dataclass
class RuntimeRequest:
    """How the model is run. `context` counts every cached token (prompt + generated) per sequence."""

    engine: str = "transformers"
    context: int = 4096
    batch: int = 1
    kv_dtype: str | None = None
    gpu_memory: int | None = None
    gpu_memory_utilization: float | None = None
    flash_attention: bool = True
    gpu_layers: int | None = None
    n_ubatch: int = 512
    n_batch: int = 2048
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r}", f"choose one of: {', '.join(ENGINES)}")
        if self.context <= 0 or self.batch <= 0:
            raise UsageError("context and batch must be positive", "e.g. --context 8192 --batch 1")
        if self.kv_dtype is not None:
            check_kv_dtype(self.kv_dtype, self.engine)
        if self.gpu_memory is not None and self.gpu_memory <= 0:
            raise UsageError("GPU memory must be positive", "e.g. --gpu-memory 80GB")
        if self.gpu_memory_utilization is not None and not 0 < self.gpu_memory_utilization <= 1:
            raise UsageError(f"gpu_memory_utilization {self.gpu_memory_utilization:g} is not in (0, 1]",
                             "e.g. --gpu-memory-utilization 0.9")
        for name in ("n_ubatch", "n_batch", "max_num_batched_tokens", "max_num_seqs"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UsageError(f"{name} must be positive", f"e.g. {name} 512")


@dataclass
class RuntimeEstimate:
    """GPU memory of one engine run. `total_bytes` = weights on the GPU + KV + activations + overhead;
    `parts` names every addend of activations and overhead (bytes)."""

    engine: str
    kv_cache_bytes: int = 0
    activation_bytes: int = 0
    overhead_bytes: int = 0
    weights_on_gpu: int = 0
    host_bytes: int = 0
    kv_capacity_tokens: int | None = None
    max_concurrency: int | None = None
    peak_allocated_bytes: int | None = None
    peak_reserved_bytes: int | None = None
    process_bytes: int | None = None  # what the engine process holds on the GPU when it differs from the need (vLLM)
    kv_dtype: str | None = None
    label: str = ""
    parts: dict[str, int] = field(default_factory=dict)
    heuristics: list[H.Heuristic] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return self.weights_on_gpu + self.kv_cache_bytes + self.activation_bytes + self.overhead_bytes

    def _overhead(self, name: str, nbytes: int, h: H.Heuristic | None = None) -> None:
        self.parts[name] = nbytes
        self.overhead_bytes += nbytes
        if h is not None and h not in self.heuristics:
            self.heuristics.append(h)

    def _activations(self, peak: A.ActivationPeak) -> None:
        for part in peak.parts:
            self.parts[f"activations: {part.name}"] = part.nbytes
        self.activation_bytes = peak.nbytes
        self.heuristics += [h for h in peak.heuristics if h not in self.heuristics]
        self.explain += [f"{self.engine} activations ({peak.phase} peak) — {line}" for line in peak.explain()]


def runtime_memory(arch: Architecture | None, weight_bytes: int, request: RuntimeRequest, *,
                   act_bytes: int = 2, embedding_bytes: int = 0, output_bytes: int = 0,
                   largest_tensor_bytes: int = 0) -> RuntimeEstimate:
    """GPU memory besides the weights (KV, activations, overhead), and which weights the GPU holds.

    act_bytes: bytes of the activation dtype (4 for an fp32 model, else 2). embedding_bytes / output_bytes: the
    token-embedding and output-layer bytes inside weight_bytes (llama.cpp keeps the embeddings in host memory).
    largest_tensor_bytes: bytes of the largest weight tensor inside the repeating layers (not embeddings or
    output); llama.cpp copies a host layer's weights into the CUDA compute buffer one tensor at a time. 0: derived
    from the architecture's shapes and the layers' average bits per weight.
    """
    request.validate()
    if request.engine == "vllm":
        est = _vllm(arch, weight_bytes, request, act_bytes)
    elif request.engine == "llama.cpp":
        est = _llamacpp(arch, weight_bytes, request, embedding_bytes, output_bytes, largest_tensor_bytes)
    else:
        est = _transformers(arch, weight_bytes, request, act_bytes)
    est.label = ENGINE_LABELS[request.engine]
    if arch is not None and arch.is_encoder:
        est.label = f"{request.engine}: one forward pass of an encoder-only model (no KV cache)"
    warning = arch.context_warning(request.context) if arch is not None else None
    if warning:
        est.warnings.append(warning)
    return est


def _no_arch(est: RuntimeEstimate) -> RuntimeEstimate:
    est.notes.append("KV cache and activations need the architecture: give a config.json, checkpoint, GGUF or "
                     "Hub id, or pass --layers, --kv-heads and --head-dim")
    return est


def _float_kv(r: RuntimeRequest, act_bytes: int) -> str:
    if r.kv_dtype:
        return check_kv_dtype(r.kv_dtype, r.engine)
    return DEFAULT_KV_DTYPE[r.engine] or ("fp32" if act_bytes >= 4 else "bf16")


# --------------------------------------------------------------------------- transformers


def _transformers(arch: Architecture | None, weights: int, r: RuntimeRequest, act_bytes: int) -> RuntimeEstimate:
    est = RuntimeEstimate("transformers", weights_on_gpu=weights)
    est._overhead("cuda_context", H.CUDA_CONTEXT.as_int(), H.CUDA_CONTEXT)
    est._overhead("cublas_workspace", H.CUBLAS_WORKSPACE.as_int(), H.CUBLAS_WORKSPACE)
    if arch is None:
        return _no_arch(est)
    from vramcalc.calculator import activations as A  # only with an architecture: off a bare count's start-up

    kv_dtype = est.kv_dtype = _float_kv(r, act_bytes)
    est.kv_cache_bytes = kv_cache_bytes(arch, r.context, r.batch, kv_dtype, "transformers")
    peak = A.transformers_prefill(arch, r.batch, r.context, act_bytes)
    pinned = prefill_storage_bytes(arch, r.context, r.batch, kv_dtype) - est.kv_cache_bytes
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


# --------------------------------------------------------------------------- vLLM


def _vllm(arch: Architecture | None, weights: int, r: RuntimeRequest, act_bytes: int) -> RuntimeEstimate:
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
        return _no_arch(est)
    from vramcalc.calculator import activations as A

    # The profile run vLLM does at start-up, with its scheduler limits at their defaults unless given: passing a
    # flag at its default value gives the same answer as leaving it out.
    mnbt = r.max_num_batched_tokens or H.VLLM_MAX_NUM_BATCHED_TOKENS.as_int()
    if r.max_num_batched_tokens is None:
        est.heuristics.append(H.VLLM_MAX_NUM_BATCHED_TOKENS)
    est._activations(A.vllm_profile(arch, mnbt, r.max_num_seqs or H.VLLM_MAX_NUM_SEQS.as_int(), act_bytes))
    kv_dtype = est.kv_dtype = _float_kv(r, act_bytes)
    per_seq = kv_cache_bytes(arch, r.context, 1, kv_dtype, "vllm", max_num_batched_tokens=mnbt)
    est.kv_cache_bytes = per_seq * r.batch
    # vLLM sizes the cache from what is left of the budget after weights, the profiled peak and non-torch memory;
    # CUDA graphs are captured afterwards, in the headroom outside the budget.
    free = budget - weights - est.activation_bytes - H.VLLM_NON_TORCH.as_int()
    per_token = kv_bytes_per_token(arch, kv_dtype, "vllm")
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


# --------------------------------------------------------------------------- llama.cpp


def _llamacpp(arch: Architecture | None, weights: int, r: RuntimeRequest, embedding_bytes: int,
              output_bytes: int, largest_tensor_bytes: int = 0) -> RuntimeEstimate:
    est = RuntimeEstimate("llama.cpp", heuristics=[H.LLAMACPP_CTX_PAD])
    est._overhead("cuda_context", H.LLAMACPP_UNACCOUNTED.as_int(), H.LLAMACPP_UNACCOUNTED)
    # The token embedding table is a lookup: llama.cpp keeps it in host memory even with every layer offloaded.
    # With tied embeddings the same table is also the output layer, so a copy goes to the GPU as `output`.
    tied = output_bytes == 0 and embedding_bytes > 0
    output = embedding_bytes if tied else output_bytes
    repeating = weights - embedding_bytes - output_bytes
    est.host_bytes = embedding_bytes
    est.parts["host: token embeddings"] = embedding_bytes
    if arch is None:
        est.weights_on_gpu = repeating + output
        return _no_arch(est)
    n = arch.num_layers
    gpu_layers = n + 1 if r.gpu_layers is None else max(0, min(r.gpu_layers, n + 1))
    # -ngl N offloads the output layer and the last N − 1 repeating layers (i_gpu_start = n_layer + 1 − N).
    on_gpu = max(0, gpu_layers - 1)
    share = on_gpu / n if n else 1.0
    est.weights_on_gpu = int(repeating * share) + (output if gpu_layers > 0 else 0)
    host_weights = repeating - int(repeating * share) + (0 if gpu_layers > 0 or tied else output)
    est.host_bytes += host_weights
    est.parts["host: layers not offloaded"] = host_weights
    n_ctx = ceil(r.context * r.batch / LLAMACPP_PAD) * LLAMACPP_PAD  # one unified cache for all sequences
    kv_dtype = est.kv_dtype = check_kv_dtype(r.kv_dtype or "f16", "llama.cpp")
    ub = min(r.n_ubatch, r.n_batch, n_ctx)
    kv_all = kv_cache_bytes(arch, n_ctx, 1, kv_dtype, "llama.cpp", n_ubatch=ub)
    # KV lives with its layer: offloaded layers' cells on the GPU, the rest in host memory.
    layer_kv = [kv_cache_bytes(arch.model_copy(update={"layers": [layer]}), n_ctx, 1, kv_dtype, "llama.cpp",
                               n_ubatch=ub) for layer in arch.layers]
    gpu_kv = sum(layer_kv[n - on_gpu:]) if on_gpu else 0
    est.kv_cache_bytes = gpu_kv
    est.host_bytes += kv_all - gpu_kv
    est.parts["host: KV of layers not offloaded"] = kv_all - gpu_kv
    # Op offload: at reserve time the worst-case ubatch is large enough for the CUDA backend to take the matmuls of
    # whatever stays in host memory, with the weight (and a host layer's K/V) copied into its compute buffer, so
    # even -ngl 0 reserves a CUDA compute buffer.
    offload = ub >= H.LLAMACPP_OP_OFFLOAD_MIN_BATCH.as_int()
    host_layers = n - on_gpu
    if gpu_layers > 0 or offload:
        from vramcalc.calculator.activations import llamacpp_compute, llamacpp_largest_layer_tensor

        copies: dict[str, int] = {}
        if offload:
            largest = largest_tensor_bytes or (llamacpp_largest_layer_tensor(arch, repeating) if host_layers else 0)
            copies = {"output_copy_bytes": output if gpu_layers == 0 else 0,
                      "host_tensor_bytes": largest if host_layers else 0,
                      "host_kv_bytes": max(layer_kv[:host_layers], default=0)}
        est._activations(llamacpp_compute(arch, n_ctx, ub, r.flash_attention, **copies))
    if host_layers or gpu_layers == 0:
        floor = H.LLAMACPP_OP_OFFLOAD_MIN_BATCH
        if floor not in est.heuristics:
            est.heuristics.append(floor)
        what = f"{host_layers} host layer(s)" + (" and the output layer" if gpu_layers == 0 else "")
        est.explain.append(
            f"llama.cpp op offload: n_ubatch {ub} ≥ {floor.as_int()}, so the matmuls of the {what} run on the GPU, "
            "their weights copied into the CUDA compute buffer one tensor at a time" if offload else
            f"llama.cpp op offload: n_ubatch {ub} < {floor.as_int()}, so the {what} run on the CPU")
    out_buf = int(H.LLAMACPP_OUTPUT_BUFFER.value) * r.batch * arch.vocab_size * 4
    est.host_bytes += out_buf
    est.parts["host: output buffer"] = out_buf
    est.heuristics.append(H.LLAMACPP_OUTPUT_BUFFER)
    est.explain.append(
        f"llama.cpp: n_ctx {r.batch} × {r.context:,} → {n_ctx:,} cells (padded to {LLAMACPP_PAD}); KV {kv_dtype} "
        f"{kv_all:,} B of which {gpu_kv:,} on the GPU ({on_gpu}/{n} repeating layers offloaded); n_ubatch {ub}; "
        f"flash attention {'on' if r.flash_attention else 'off'}")
    if est.host_bytes:
        est.notes.append(f"llama.cpp keeps {est.host_bytes / 1e9:.2f} GB in host memory (token embeddings, output "
                         "buffer" + (", layers not offloaded and their KV" if on_gpu < n else "") + ")")
    return est


def architecture_from_flags(layers: int, kv_heads: int, head_dim: int, heads: int | None = None,
                            hidden: int | None = None, vocab: int = 128_256) -> Architecture:
    """A minimal architecture for a bare parameter count, from --layers/--kv-heads/--head-dim."""
    from vramcalc.architecture import Architecture, Attention

    for name, value in (("--layers", layers), ("--kv-heads", kv_heads), ("--head-dim", head_dim)):
        if value <= 0:
            raise UsageError(f"{name} must be positive", "e.g. --layers 32 --kv-heads 8 --head-dim 128")
    heads = heads or kv_heads
    if heads % kv_heads:
        raise UsageError(f"{heads} attention heads are not a multiple of {kv_heads} KV heads",
                         "check --heads and --kv-heads")
    hidden = hidden or heads * head_dim
    return Architecture(model_type="flags", hidden_size=hidden, num_layers=layers, vocab_size=vocab,
                        layers=[Attention(num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim)] * layers)
