"""Every heuristic constant vramcalc uses: a name, a value, a unit and where it comes from.

Nothing here is fitted to make a test pass; each is a measurement or a documented engine default,
and `--explain` prints the ones a calculation used.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heuristic:
    name: str
    value: float
    unit: str
    source: str

    def as_int(self) -> int:
        return int(self.value)


# NVML "used" after CUDA init and one bf16 matmul, minus the bytes the torch allocator had reserved:
# the CUDA context, kernels and cuBLAS workspace a PyTorch process holds outside torch's allocator.
CUDA_CONTEXT = Heuristic(
    "cuda_context",
    1_324_154_880 - 102_760_448,
    "bytes",
    "measured: NVML used after CUDA init + one bf16 matmul, less torch reserved; H100 80GB, torch 2.11, "
    "shared/measurements/h100-transformers.jsonl (context_after_matmul)",
)

# --------------------------------------------------------------------------- transformers (generate, sdpa)

TRANSFORMERS_ALLOCATOR_SLACK = Heuristic(
    "transformers_allocator_slack",
    0.20,
    "fraction of the generate-time growth (activations + KV)",
    "measured: PyTorch caching-allocator reserve above the allocated peak during generate, median 22% of the "
    "growth over 16 H100 runs (range 6-79%, larger for short prompts); tests/data/measurements",
)
TRANSFORMERS_MLP_LIVE = Heuristic(
    "transformers_prefill_live_tensors",
    3,
    "intermediate-size tensors per prompt token",
    "mechanism: at the prefill peak an MLP holds gate(x), up(x) and act(gate)·up (3 × intermediate) while the "
    "residual, normed input, attention output and MLP output (4 × hidden) are live; checked against "
    "peak_allocated in tests/data/measurements (Llama-3.2-1B, Qwen2.5-7B within 3%)",
)
TRANSFORMERS_HIDDEN_LIVE = Heuristic(
    "transformers_prefill_hidden_tensors", 4, "hidden-size tensors per prompt token", TRANSFORMERS_MLP_LIVE.source
)
TRANSFORMERS_MATH_SCORES = Heuristic(
    "transformers_math_attention_scores",
    2,
    "batch × heads × prompt² fp32 score matrices",
    "mechanism: fp32 with grouped KV heads falls back to sdpa's math path, which materialises the scores and "
    "their softmax; "
    "SmolLM2-135M fp32 at 8192 tokens peaks at 6.8 GB (tests/data/measurements)",
)

# --------------------------------------------------------------------------- vLLM

H100_MEMORY = Heuristic(
    "gpu_memory_default", 85_017_493_504, "bytes",
    "total memory of an NVIDIA H100 80GB HBM3 as torch reports it (tests/data/measurements, context record); "
    "pass --gpu-memory for another card",
)
VLLM_GPU_MEMORY_UTILIZATION = Heuristic(
    "vllm_gpu_memory_utilization", 0.9, "fraction of GPU memory", "vLLM default (EngineArgs.gpu_memory_utilization)"
)
VLLM_BLOCK_SIZE = Heuristic("vllm_block_size", 16, "tokens per KV page", "vLLM default block_size on CUDA")
VLLM_ACTIVATION_DENSE = Heuristic(
    "vllm_activation_peak_dense", 5.5 * 2**30, "bytes",
    "llm-d capacity planner (config_explorer/capacity_planner.py): profiled activation peak measured on H100 "
    "for dense models at max_model_len 16000",
)
VLLM_ACTIVATION_MOE = Heuristic(
    "vllm_activation_peak_moe", 8.0 * 2**30, "bytes", VLLM_ACTIVATION_DENSE.source.replace("dense", "MoE")
)
VLLM_NON_TORCH = Heuristic(
    "vllm_non_torch_memory", 0.15 * 2**30, "bytes",
    "llm-d capacity planner: non-torch memory (CUDA context, NCCL off) at TP=1, measured on H100",
)

# --------------------------------------------------------------------------- llama.cpp

LLAMACPP_CTX_PAD = Heuristic(
    "llamacpp_context_padding", 256, "tokens", "llama.cpp pads n_ctx of the KV cache to a multiple of 256"
)
LLAMACPP_UNACCOUNTED = Heuristic(
    "llamacpp_cuda_context", 596 * 2**20, "bytes",
    "measured: the 'unaccounted' column of llama.cpp's memory breakdown (CUDA context, cuBLAS, driver), "
    "596-598 MiB on an H100 for four runs (tests/data/measurements/llamacpp-h100.json)",
)
LLAMACPP_GRAPH_HIDDEN = Heuristic(
    "llamacpp_compute_hidden_tensors", 1, "hidden-size f32 tensors per ubatch token",
    "mechanism: ggml's graph allocator reuses buffers, so the CUDA compute buffer peaks at the ubatch's f32 "
    "logits (n_vocab) plus one f32 hidden state per token: 258.5 MiB (8B) and 254.5 MiB (1B) at n_ubatch 512, "
    "as measured in tests/data/measurements/llamacpp-h100.json",
)
LLAMACPP_KQ_BYTES = Heuristic(
    "llamacpp_kq_bytes", 2, "bytes per KQ element without flash attention",
    "mechanism: without flash attention the graph materialises KQ = n_ubatch × n_ctx × n_head per layer; "
    "the 8B run at 8192 tokens with -fa off adds 305 MiB (llamacpp-h100.json), about 2.4 bytes per element",
)

# --------------------------------------------------------------------------- diffusion pipelines

VAE_DECODE_LIVE = Heuristic(
    "vae_decode_live_tensors", 3, "tensors of 128 channels at the output resolution",
    "mechanism: the last up-block of the SD/FLUX VAE decoder runs 128-channel convolutions at full resolution, "
    "holding its input, the normalised activations and the conv output (diffusers AutoencoderKL); not yet "
    "checked against a measurement",
)
DEFAULT_RESOLUTION = Heuristic("image_resolution", 1024, "pixels per side", "default image size for pipelines")
