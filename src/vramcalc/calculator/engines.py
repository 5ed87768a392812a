"""Runtime memory per engine: KV cache, activations and overhead on top of the weights.

Each profile names its assumptions; every constant is a `Heuristic` with its source, listed by --explain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import TYPE_CHECKING

from vramcalc import heuristics as H
from vramcalc.calculator.kv import kv_bytes_per_token, kv_cache_bytes
from vramcalc.errors import UsageError

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture

ENGINES = ("transformers", "vllm", "llama.cpp")
_UNGATED = {"gpt2", "gpt_bigcode", "gpt_neox", "opt", "bloom", "falcon", "phi"}


@dataclass
class RuntimeRequest:
    engine: str = "transformers"
    context: int = 4096
    batch: int = 1
    kv_dtype: str | None = None
    gpu_memory: int | None = None
    gpu_memory_utilization: float | None = None
    flash_attention: bool = True
    gpu_layers: int | None = None
    n_ubatch: int = 512

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r}", f"choose one of: {', '.join(ENGINES)}")
        if self.context <= 0 or self.batch <= 0:
            raise UsageError("context and batch must be positive", "e.g. --context 8192 --batch 1")


@dataclass
class RuntimeEstimate:
    engine: str
    kv_cache_bytes: int = 0
    activation_bytes: int = 0
    overhead_bytes: int = 0
    weights_on_gpu: int = 0
    host_bytes: int = 0
    kv_capacity_tokens: int | None = None
    max_concurrency: int | None = None
    heuristics: list[H.Heuristic] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return self.weights_on_gpu + self.kv_cache_bytes + self.activation_bytes + self.overhead_bytes


def runtime_memory(arch: Architecture | None, weight_bytes: int, request: RuntimeRequest, *,
                   act_bytes: int = 2, embedding_bytes: int = 0, output_bytes: int = 0) -> RuntimeEstimate:
    """GPU memory besides the weights (KV, activations, overhead), and which weights the GPU holds."""
    request.validate()
    if request.engine == "vllm":
        return _vllm(arch, weight_bytes, request)
    if request.engine == "llama.cpp":
        return _llamacpp(arch, weight_bytes, request, embedding_bytes, output_bytes)
    return _transformers(arch, weight_bytes, request, act_bytes)


def _no_arch(est: RuntimeEstimate) -> RuntimeEstimate:
    est.notes.append("KV cache and activations need the architecture: give a config.json, checkpoint, GGUF or "
                     "Hub id, or pass --layers, --kv-heads and --head-dim")
    return est


def _transformers(arch: Architecture | None, weights: int, r: RuntimeRequest, act_bytes: int) -> RuntimeEstimate:
    est = RuntimeEstimate("transformers", weights_on_gpu=weights, overhead_bytes=H.CUDA_CONTEXT.as_int(),
                          heuristics=[H.CUDA_CONTEXT])
    if arch is None:
        return _no_arch(est)
    kv_dtype = r.kv_dtype or ("fp32" if act_bytes == 4 else "bf16")
    est.kv_cache_bytes = kv_cache_bytes(arch, r.context, r.batch, kv_dtype, "transformers")
    tokens = r.batch * r.context
    inter = arch.intermediate_size or 4 * arch.hidden_size
    if arch.is_moe:
        inter = (arch.experts_per_token or 1) * (arch.moe_intermediate_size or inter) + (
            (arch.num_shared_experts or 0) * (arch.moe_intermediate_size or 0) or (arch.intermediate_size or 0))
    # A gated MLP (SwiGLU) holds gate, up and their product; a plain one (GPT-2) only fc and act(fc).
    mlp_live = int(H.TRANSFORMERS_MLP_LIVE.value) - (0 if arch.model_type not in _UNGATED else 1)
    per_token = (mlp_live * inter + int(H.TRANSFORMERS_HIDDEN_LIVE.value) * arch.hidden_size) * act_bytes
    act = tokens * per_token + r.batch * arch.vocab_size * 4
    est.explain.append(f"transformers activations: {tokens:,} prompt tokens × ({mlp_live}"
                       f" × {inter} + {H.TRANSFORMERS_HIDDEN_LIVE.value:g} × {arch.hidden_size}) × {act_bytes} B"
                       f" + last-token logits {r.batch} × {arch.vocab_size} × 4 B")
    est.heuristics += [H.TRANSFORMERS_MLP_LIVE, H.TRANSFORMERS_HIDDEN_LIVE]
    gqa = any(layer.num_kv_heads < layer.num_heads for layer in arch.layers)
    if act_bytes == 4 and gqa:
        # No fused sdpa kernel takes fp32 with grouped KV heads: the math path materialises the scores.
        heads = max(layer.num_heads for layer in arch.layers)
        scores = int(H.TRANSFORMERS_MATH_SCORES.value) * r.batch * heads * r.context * r.context * 4
        act += scores
        est.heuristics.append(H.TRANSFORMERS_MATH_SCORES)
        est.explain.append(f"fp32 → sdpa math path: + {H.TRANSFORMERS_MATH_SCORES.value:g} × {r.batch} × {heads} "
                           f"× {r.context}² × 4 B of attention scores")
    slack = ceil(H.TRANSFORMERS_ALLOCATOR_SLACK.value * (act + est.kv_cache_bytes))
    est.activation_bytes = act
    est.overhead_bytes += slack
    est.heuristics.append(H.TRANSFORMERS_ALLOCATOR_SLACK)
    est.explain.append(f"KV (DynamicCache, {kv_dtype}): {r.batch} × {r.context:,} tokens = "
                       f"{est.kv_cache_bytes:,} bytes; overhead = CUDA context + allocator slack {slack:,} bytes")
    return est


def _vllm(arch: Architecture | None, weights: int, r: RuntimeRequest) -> RuntimeEstimate:
    gpu = r.gpu_memory or H.H100_MEMORY.as_int()
    util = r.gpu_memory_utilization or H.VLLM_GPU_MEMORY_UTILIZATION.value
    act_h = H.VLLM_ACTIVATION_MOE if arch is not None and arch.is_moe else H.VLLM_ACTIVATION_DENSE
    est = RuntimeEstimate("vllm", weights_on_gpu=weights, activation_bytes=act_h.as_int(),
                          overhead_bytes=H.VLLM_NON_TORCH.as_int(),
                          heuristics=[H.VLLM_GPU_MEMORY_UTILIZATION, H.VLLM_BLOCK_SIZE, act_h, H.VLLM_NON_TORCH])
    if r.gpu_memory is None:
        est.heuristics.append(H.H100_MEMORY)
    if arch is None:
        return _no_arch(est)
    block = int(H.VLLM_BLOCK_SIZE.value)
    kv_dtype = r.kv_dtype or "bf16"
    pages = ceil(r.context / block)
    est.kv_cache_bytes = kv_cache_bytes(arch, pages * block, r.batch, kv_dtype, "vllm")
    budget = int(gpu * util)
    free = budget - weights - est.activation_bytes - est.overhead_bytes
    per_token = kv_bytes_per_token(arch, kv_dtype, "vllm")
    if free > 0 and per_token:
        est.kv_capacity_tokens = int(free / per_token) // block * block
        est.max_concurrency = est.kv_capacity_tokens // (pages * block)
    else:
        est.kv_capacity_tokens, est.max_concurrency = 0, 0
        est.notes.append(f"vLLM: the weights do not fit in {util:g} × {gpu / 1e9:.1f} GB: no room for a KV cache")
    est.explain.append(
        f"vLLM: budget {util:g} × {gpu:,} = {budget:,} bytes; KV pages of {block} tokens; "
        f"room for {est.kv_capacity_tokens:,} tokens → {est.max_concurrency} concurrent sequences of {r.context:,}")
    est.notes.append(f"vLLM preallocates {util:g} of the GPU ({budget / 1e9:.1f} GB) whatever the model needs; "
                     f"KV capacity {est.kv_capacity_tokens:,} tokens = {est.max_concurrency} sequences of "
                     f"{r.context:,} tokens")
    return est


def _llamacpp(arch: Architecture | None, weights: int, r: RuntimeRequest, embedding_bytes: int,
              output_bytes: int) -> RuntimeEstimate:
    est = RuntimeEstimate("llama.cpp", overhead_bytes=H.LLAMACPP_UNACCOUNTED.as_int(),
                          heuristics=[H.LLAMACPP_UNACCOUNTED, H.LLAMACPP_CTX_PAD, H.LLAMACPP_GRAPH_HIDDEN])
    # The token embedding table is a lookup: llama.cpp keeps it in host memory even with every layer offloaded.
    # With tied embeddings the same table is also the output layer, so a copy goes to the GPU as `output`.
    tied = output_bytes == 0 and embedding_bytes > 0
    output = embedding_bytes if tied else output_bytes
    repeating = weights - embedding_bytes - output_bytes
    est.host_bytes = embedding_bytes
    if arch is None:
        est.weights_on_gpu = repeating + output
        return _no_arch(est)
    n = arch.num_layers
    gpu_layers = n + 1 if r.gpu_layers is None else max(0, min(r.gpu_layers, n + 1))
    # -ngl counts the output layer as one more: N offloads the output and the last N-1 repeating layers.
    repeating_on_gpu = max(0, gpu_layers - 1)
    share = repeating_on_gpu / n if n else 1.0
    est.weights_on_gpu = int(repeating * share) + (output if gpu_layers > 0 else 0)
    est.host_bytes += repeating - int(repeating * share) + (0 if gpu_layers > 0 or tied else output)
    pad = int(H.LLAMACPP_CTX_PAD.value)
    n_ctx = ceil(r.context / pad) * pad
    kv_dtype = r.kv_dtype or "f16"
    kv_all = kv_cache_bytes(arch, n_ctx, r.batch, kv_dtype, "llama.cpp")
    est.kv_cache_bytes = int(kv_all * share)
    est.host_bytes += kv_all - est.kv_cache_bytes
    ub = min(r.n_ubatch, n_ctx)
    compute = ub * (arch.vocab_size + int(H.LLAMACPP_GRAPH_HIDDEN.value) * arch.hidden_size) * 4
    if not r.flash_attention:
        heads = max(layer.num_heads for layer in arch.layers) if arch.layers else 0
        compute += ub * n_ctx * heads * int(H.LLAMACPP_KQ_BYTES.value)
        est.heuristics.append(H.LLAMACPP_KQ_BYTES)
    est.activation_bytes = compute
    est.explain.append(
        f"llama.cpp: n_ctx {r.context:,} → {n_ctx:,} (padded to {pad}); KV {kv_dtype} {kv_all:,} bytes, "
        f"{repeating_on_gpu}/{n} repeating layers on the GPU; compute buffer n_ubatch {ub} × (n_vocab "
        f"{arch.vocab_size} + hidden {arch.hidden_size}) × 4 B" + ("" if r.flash_attention else " + KQ (no flash)"))
    if est.host_bytes:
        est.notes.append(f"llama.cpp keeps {est.host_bytes / 1e9:.2f} GB in host memory (token embeddings"
                         + (", layers not offloaded and their KV" if repeating_on_gpu < n else "") + ")")
    return est


def architecture_from_flags(layers: int, kv_heads: int, head_dim: int, heads: int | None = None,
                            hidden: int | None = None, vocab: int = 128_256) -> Architecture:
    """A minimal architecture for a bare parameter count, from --layers/--kv-heads/--head-dim."""
    from vramcalc.architecture import Architecture, Attention

    heads = heads or kv_heads
    hidden = hidden or heads * head_dim
    return Architecture(model_type="flags", hidden_size=hidden, num_layers=layers, vocab_size=vocab,
                        layers=[Attention(num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim)] * layers)
