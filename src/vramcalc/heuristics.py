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
    "tests/data/measurements/h100-transformers.jsonl (context_after_matmul)",
)

# --------------------------------------------------------------------------- request defaults

DEFAULT_CONTEXT = Heuristic(
    "default_context", 4096, "tokens per sequence",
    "vramcalc's default when --context is not given (or the model's maximum if smaller): a common chat length, "
    "llama-server's old -c default (llama.cpp common/common.h n_ctx 4096)",
)
LLAMACPP_UBATCH = Heuristic(
    "llamacpp_ubatch", 512, "tokens per physical batch",
    "llama.cpp default n_ubatch (common/common.h); sizes its compute buffer (-ub)",
)
LLAMACPP_BATCH = Heuristic(
    "llamacpp_batch", 2048, "tokens per logical batch", "llama.cpp default n_batch (common/common.h, -b)",
)

# --------------------------------------------------------------------------- transformers (generate, sdpa)

CUBLAS_WORKSPACE = Heuristic(
    "cublas_workspace",
    32 * 2**20,
    "bytes",
    "PyTorch's default CUBLAS_WORKSPACE_CONFIG :4096:8 (8 × 4 MiB), taken from the caching allocator on the first "
    "matmul; measured: 67,109,376 bytes allocated after one 32-MiB bf16 matmul (context_after_matmul) and "
    "allocated_before − weights = 32-34 MiB in every generate record (tests/data/measurements)",
)
TRANSFORMERS_ALLOCATOR_SLACK = Heuristic(
    "transformers_allocator_slack",
    0.20,
    "fraction of the generate-time growth (activations + KV)",
    "measured: PyTorch caching-allocator reserve above the allocated peak during generate, median 22% of the "
    "growth over 16 H100 runs (range 6-79%, larger for short prompts); tests/data/measurements. The sdpa math "
    "path's score matrices are left out: the same sizes are freed and re-requested at every layer, so the "
    "allocator reuses whole blocks (SmolLM2-135M fp32 at 8192 tokens: 6% slack on 6.2 GB of growth)",
)
TRANSFORMERS_MLP_LIVE = Heuristic(
    "transformers_prefill_live_tensors",
    3,
    "intermediate-size tensors per prompt token (gated MLP)",
    "mechanism: `down(act(gate(x)) * up(x))` holds act(gate), up and their product while the product is formed "
    "(transformers 5.17 LlamaMLP); checked against peak_allocated in tests/data/measurements (Llama-3.2-1B, "
    "Qwen2.5-7B, SmolLM2 bf16 within 2%)",
)
TRANSFORMERS_HIDDEN_LIVE = Heuristic(
    "transformers_prefill_hidden_tensors", 4, "hidden-size tensors per prompt token",
    "mechanism: the embeddings output (kept by the model's forward), the residual, the normed sub-layer input and "
    "the sub-layer output are live at the MLP peak; " + TRANSFORMERS_MLP_LIVE.source.split("; ")[1],
)
TRANSFORMERS_PYTHON_GELU_LIVE = Heuristic(
    "transformers_python_gelu_live", 4, "intermediate-size tensors per prompt token (gelu_new)",
    "mechanism: NewGELUActivation is written in Python (0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))): the input, "
    "0.5·x, the running (1 + tanh(…)) term and the product are live at once (transformers 5.17 activations.py); "
    "GPT-2 in tests/data/measurements",
)
TRANSFORMERS_MATH_SCORES = Heuristic(
    "transformers_math_attention_scores",
    2,
    "batch × heads × prompt² score matrices in the activation dtype (+ a bool mask per head + a causal mask)",
    "mechanism: transformers passes enable_gqa=True to sdpa, which only the flash (fp16/bf16) and math kernels "
    "accept, so fp32 with grouped KV heads runs aten's math path: scores, their softmax, the -inf test of "
    "_safe_softmax (1 byte per score) and the float causal mask (prompt² × dtype); SmolLM2-135M fp32 at 8192 "
    "tokens peaks at 6.8 GB (tests/data/measurements)",
)
TRANSFORMERS_GROUPED_MM_LIVE = Heuristic(
    "transformers_grouped_mm_live", 4, "moe-intermediate tensors per routed (token, expert) pair",
    "mechanism: transformers 5.17 runs experts with grouped_mm by default on CUDA (get_correct_experts_"
    "implementation): gathered states (k × hidden) and gate_up (2 × moe_intermediate) with act(gate) and the "
    "product live together, per selected expert; Qwen1.5-MoE-A2.7B in tests/data/measurements within 5%",
)
TRANSFORMERS_INPUT_TENSORS = Heuristic(
    "transformers_input_tensors", 2, "int64 tensors of batch × prompt",
    "input_ids and attention_mask handed to generate() (measure.py creates them after allocated_before)",
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
    "for dense models at max_model_len 16000; used only without an architecture (a bare count), where the profile "
    "run cannot be modelled",
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
    "llamacpp_kq_bytes", 4, "bytes per KQ element without flash attention (f32), + the f32 KQ mask",
    "mechanism: without flash attention each layer's graph materialises KQ = n_ctx × n_ubatch × n_head in f32 and "
    "soft_max_ext writes in place; the mask is n_ctx × n_ubatch f32 (llama-graph.cpp build_attn_mha); "
    "ggml-alloc reuses the logits' buffer, so the compute buffer is the larger of the two phases. The 8B run at "
    "8192 tokens with -fa off: 564.01 MiB (tests/data/measurements/llamacpp-h100.json)",
)
LLAMACPP_OP_OFFLOAD_MIN_BATCH = Heuristic(
    "llamacpp_op_offload_min_batch", 32, "tokens in the ubatch (rows of a matmul)",
    "mechanism (op offload, on by default; --no-op-offload turns it off): when an op's weight lives in host memory, "
    "ggml_backend_sched asks the higher-priority backends whether they want the op anyway "
    "(ggml/src/ggml-backend.cpp, ggml_backend_sched_backend_id_from_cur), and the CUDA device says yes once the "
    "op's batch reaches 32 rows (ggml/src/ggml-cuda/ggml-cuda.cu, ggml_backend_cuda_device_offload_op; "
    "GGML_OP_OFFLOAD_MIN_BATCH overrides it; get_rows never qualifies, so the token embeddings stay on the CPU). "
    "llama.cpp reserves the compute buffers with a worst-case ubatch of min(n_ctx, n_ubatch) tokens, all of them "
    "outputs (src/llama-context.cpp, graph_reserve), so with -ngl 0 … n every matmul of a host-resident layer and "
    "the output layer runs on the GPU at reserve time",
)
LLAMACPP_OFFLOAD_WEIGHT_COPIES = Heuristic(
    "llamacpp_offload_weight_copies", 1, "copies of one host weight tensor in the CUDA compute buffer at a time",
    "mechanism: the weight of an offloaded op is a split input the scheduler copies into the GPU backend's "
    "compute buffer (ggml-backend.cpp, ggml_backend_sched_split_graph: a tensor laid out like the weight, "
    "allocated by ggml-alloc at the start of its split); a host weight on an incompatible backend starts a new "
    "split, so each copy lives only for its own op and the memory of the previous copy is reused. One copy per "
    "weight: n_copies is 1 on a single GPU (pipeline parallelism needs several devices and every layer offloaded, "
    "src/llama-context.cpp). The CUDA buffer is therefore the largest single host tensor in flight plus the "
    "activations live beside it, not the host layers' total; a MoE expert tensor is copied whole at reserve time "
    "(only used experts are transferred at compute time)",
)
LLAMACPP_OFFLOAD_FFN_LIVE = Heuristic(
    "llamacpp_offload_ffn_live", 2, "intermediate-size f32 tensors per ubatch token (+ 2 hidden-size)",
    "mechanism: while a host layer's gate or up weight is copied in for its matmul, the other projection's output "
    "(intermediate, f32) and this one's are live, with the normed input and the residual (2 × hidden); the "
    "weight copy comes on top (llama.cpp src/llama-graph.cpp build_ffn; ggml-alloc frees a tensor after its "
    "last consumer). MoE layers: intermediate = experts per token × expert width",
)
LLAMACPP_OFFLOAD_ATTN_HIDDEN = Heuristic(
    "llamacpp_offload_attn_hidden", 3, "hidden-size f32 tensors per ubatch token at a host layer's attention",
    "mechanism: the KV cache of a layer that is not offloaded lives in host memory, so when its flash-attention "
    "(or KQ) op runs on the GPU, K and V are split inputs copied into the CUDA compute buffer (the KV buffer is "
    "not a weight, so the op follows its GPU neighbours: ggml-backend.cpp expand passes). Live beside the copies: "
    "the residual, Q and the attention output (3 × hidden, f32) and the f16 KQ mask of n_ctx × n_ubatch "
    "(src/llama-graph.cpp build_attn_mha)",
)

VLLM_MAX_NUM_BATCHED_TOKENS = Heuristic(
    "vllm_max_num_batched_tokens", 8192, "tokens per scheduler step",
    "vLLM V1 default for `vllm serve` on GPUs with ≥ 70 GiB (EngineArgs default_max_num_batched_tokens: 8192 for "
    "the OpenAI server, 16384 for the offline LLM class); sizes sliding-window pages and the profile run",
)
VLLM_MAX_NUM_SEQS = Heuristic(
    "vllm_max_num_seqs", 256, "sequences in the sampler's dummy run",
    "vLLM default max_num_seqs (EngineArgs; 1024 for the offline LLM class on ≥70 GiB GPUs in recent V1 releases)",
)
VLLM_PROFILE_LIVE = Heuristic(
    "vllm_profile_live_tensors", 3, "intermediate-size tensors per batched token (+ 4 hidden)",
    "mechanism: vLLM's profile run pushes max_num_batched_tokens dummy tokens through the model; the merged "
    "gate_up output (2 × intermediate) and SiluAndMul's output (1 ×) are the largest live tensors, plus the "
    "sampler's fp32 logits and probabilities for max_num_seqs rows. Check: Meta-Llama-3-8B on an H100 with "
    "8192 batched tokens and 256 sequences logs 'PyTorch activation peak memory 1.26GiB' "
    "(vllm-project/vllm#10511)",
)
VLLM_CUDA_GRAPHS = Heuristic(
    "vllm_cuda_graphs", 0.5 * 2**30, "bytes",
    "vLLM logs 'Graph capturing finished …, took 0.13-0.53 GiB' for 1-8B models (vllm-project/vllm#11349, "
    "generative-computing/mellea#416); captured after the KV cache is sized, so it comes out of the "
    "(1 − gpu_memory_utilization) headroom — shown, not added to the budget",
)
LLAMACPP_OUTPUT_BUFFER = Heuristic(
    "llamacpp_output_buffer", 1, "rows of n_vocab f32 logits per sequence (host memory)",
    "llama.cpp reserves its output buffer for n_seq_max rows at start-up (llama_context::output_reserve): "
    "'CUDA_Host output buffer size = 0.49 MiB' for a 128,256-token vocabulary",
)

# --------------------------------------------------------------------------- diffusion pipelines
# Activation peaks are walked stage by stage from the component configs (calculator/diffusion.py): which tensors a
# diffusers 0.42 / torch 2.11 pipeline holds at each stage's worst moment. Checked against every row of
# tests/data/measurements/h100-flux.jsonl (FLUX.1-dev shape, H100, bf16) in tests/test_diffusion_activations.py.
_DIFFUSERS = "huggingface/diffusers src/diffusers/models"

VAE_CONV_NHWC_COPIES = Heuristic(
    "cudnn_conv_nhwc_copies", 1, "NHWC copy of a conv's input and one of its output (cuDNN workspace), each",
    "cuDNN's tensor-core convolutions on NCHW tensors transpose the input to NHWC and the result back "
    "(NVIDIA Deep Learning Performance guide, 'Tensor layout'; chainer/chainer#5076), the buffers taken from "
    "torch's caching allocator as workspace; with them the decoder's peak is the last Upsample2D conv, "
    "1,216 values per output pixel (FLUX.1-dev's VAE): peak_allocated − resident at 512² and 1024² within 0.4% "
    "(tests/data/measurements/h100-flux.jsonl); without them the walk gives 768 (−37%)",
)
VAE_NORM_ACT_LIVE = Heuristic(
    "vae_norm_silu_live", 2, "tensors of the ResnetBlock2D input's width besides the input",
    f"{_DIFFUSERS}/resnet.py ResnetBlock2D.forward: norm1's output and nn.SiLU's (not in place) are both live "
    "while SiLU runs, and silu(norm(x)) stays live while conv1 writes its output",
)
VAE_RESIDUAL_LIVE = Heuristic(
    "vae_residual_live", 3, "tensors of the ResnetBlock2D output's width besides the input",
    f"{_DIFFUSERS}/resnet.py ResnetBlock2D.forward: `(input_tensor + hidden_states) / output_scale_factor` "
    "holds conv2's output, the sum and the quotient (plus conv_shortcut's output when channels change)",
)
VAE_UPSAMPLE_LIVE = Heuristic(
    "vae_upsample_live", 2, "tensors at twice the resolution (interpolated input, conv output)",
    f"{_DIFFUSERS}/upsampling.py Upsample2D.forward: F.interpolate(nearest, 2×) then a 3×3 conv, in the "
    "pipeline's dtype (the fp32 cast is only for torch < 2.1); the caller still holds the block's input and the "
    "pre-upsample tensor",
)
VAE_MID_ATTENTION_LIVE = Heuristic(
    "vae_mid_attention_live", 6, "tensors of the latent width at the latent resolution",
    f"{_DIFFUSERS}/attention_processor.py AttnProcessor2_0 in the decoder's UNetMidBlock2D: input, GroupNorm "
    "output, q, k, v and the SDPA output; one head of dim = 512 channels is above flash/cuDNN's 256 limit, so "
    "torch runs the memory-efficient kernel, which keeps no score matrix (pytorch/pytorch "
    "aten/src/ATen/native/transformers/cuda/sdp_utils.cpp, check_head_dim_size_flash / check_cudnn_tensor_shapes)",
)
DIT_SINGLE_BLOCK_HELD = Heuristic(
    "dit_single_block_held", 6, "hidden-size tensors per token (image + text), besides the MLP branch",
    f"{_DIFFUSERS}/transformers/transformer_flux.py FluxSingleTransformerBlock: the previous block's output, "
    "torch.cat(text, image) (the residual), the modulated norm, q, k and v are live at the rotary embedding, "
    "with act_mlp(proj_mlp(x)) (mlp_ratio × hidden) computed before the attention",
)
DIT_DOUBLE_BLOCK_HELD = Heuristic(
    "dit_double_block_held", 5, "hidden-size tensors per token (image + text), besides the text q/k/v",
    f"{_DIFFUSERS}/transformers/transformer_flux.py FluxTransformerBlock / FluxAttnProcessor: the block's "
    "inputs, norm1 outputs and the joint q, k, v after torch.cat([encoder_query, query]); the text stream's own "
    "q, k, v stay referenced until the processor returns",
)
DIT_ROPE_FP32 = Heuristic(
    "dit_rope_fp32_copies", 3, "fp32 tensors the size of q (besides x_rotated in the act dtype)",
    f"{_DIFFUSERS}/embeddings.py apply_rotary_emb (use_real, unbind -1): `(x.float() * cos + "
    "x_rotated.float() * sin).to(x.dtype)` holds x·cos, x_rotated.float() and its product with sin in fp32, "
    "next to x and x_rotated; the single-stream block's peak is there: 6 + 4 + 1 + 3 × 2 = 17 bf16 hidden-size "
    "tensors per token: the offloaded FLUX transformer's activations within 1.3% (tests/data/measurements)",
)
DIT_ROPE_TABLES = Heuristic(
    "dit_rope_tables", 2, "fp32 tables of tokens × head_dim (cos, sin)",
    f"{_DIFFUSERS}/transformers/transformer_flux.py FluxPosEmbed: freqs_cos/freqs_sin for every text and "
    "image token, in float32, live for the whole forward",
)
PIPELINE_LATENT_COPIES = Heuristic(
    "pipeline_latent_copies", 2, "packed latent tensors (latents, last noise prediction)",
    "huggingface/diffusers src/diffusers/pipelines/flux/pipeline_flux.py __call__: `latents` and the previous "
    "step's `noise_pred` are live across each transformer call; the prompt embeddings live throughout",
)
_T5 = "huggingface/transformers src/transformers/models/t5/modeling_t5.py"
T5_SCORE_MATRICES = Heuristic(
    "t5_score_matrices", 2, "heads × tokens² tensors in the act dtype (position bias, scores)",
    f"{_T5} T5Attention.forward (eager, the scores are materialised): the relative position bias, computed by "
    "the first layer and passed to every later one, and the scores it is added to in place",
)
T5_SOFTMAX_FP32 = Heuristic(
    "t5_softmax_fp32", 2, "heads × tokens² fp32 tensors (scores.float(), its softmax)",
    f"{_T5} T5Attention.forward: softmax(scores.float(), dim=-1).type_as(scores) holds the fp32 copy and the "
    "fp32 result at once",
)
T5_HIDDEN_LIVE = Heuristic(
    "t5_hidden_live", 6, "d_model tensors per token",
    f"{_T5} T5Stack / T5LayerSelfAttention: the "
    "input embeddings, the block input, its T5LayerNorm output, q, k and v during the attention",
)
DEFAULT_RESOLUTION = Heuristic("image_resolution", 1024, "pixels per side", "default image size for pipelines")

# --------------------------------------------------------------------------- bare counts

# A llama.cpp mix on a bare count (`13B-Q4_K_M`) is priced on a representative decoder of the Llama 3 shape family:
# llama-quantize's per-tensor rules (llama.cpp src/llama-quant.cpp, llama_tensor_get_type) applied to it give the
# mix's bits per weight at that size. Depth: log-log interpolation between Meta's released sizes below,
# (parameters, num_hidden_layers) from each model's config.json on the Hugging Face Hub.
LLAMA3_DEPTHS: tuple[tuple[int, int], ...] = (
    (1_235_814_400, 16),  # meta-llama/Llama-3.2-1B
    (3_212_749_824, 28),  # meta-llama/Llama-3.2-3B
    (8_030_261_248, 32),  # meta-llama/Llama-3.1-8B
    (70_553_706_496, 80),  # meta-llama/Llama-3.1-70B
    (405_853_388_800, 126),  # meta-llama/Llama-3.1-405B
)
_LLAMA3_CONFIGS = "Meta Llama 3.1 8B/70B/405B config.json (huggingface.co/meta-llama)"
BARE_COUNT_VOCAB = Heuristic(
    "bare_count_vocab", 128_256, "tokens (untied embedding and output of the representative decoder)",
    f"{_LLAMA3_CONFIGS}: vocab_size 128256, tie_word_embeddings false",
)
BARE_COUNT_HEAD_DIM = Heuristic(
    "bare_count_head_dim", 128, "per attention head (heads = hidden ÷ 128)",
    f"{_LLAMA3_CONFIGS}: hidden_size ÷ num_attention_heads = 128",
)
BARE_COUNT_KV_HEADS = Heuristic(
    "bare_count_kv_heads", 8, "KV heads (grouped-query attention)", f"{_LLAMA3_CONFIGS}: num_key_value_heads 8",
)
BARE_COUNT_FFN_RATIO = Heuristic(
    "bare_count_ffn_ratio", 3.5, "intermediate size ÷ hidden size (gated MLP)",
    f"{_LLAMA3_CONFIGS}: 14336 ÷ 4096 = 28672 ÷ 8192 = 3.5",
)
BARE_COUNT_WIDTH_STEP = Heuristic(
    "bare_count_width_step", 256, "(hidden and intermediate sizes are multiples of it)",
    "the K-quant super-block (QK_K = 256, ggml-common.h): released widths divide by it, so llama-quantize "
    "never falls back to another type on the representative decoder; the width is solved from the count and the "
    "depth (the depth interpolated log-log between Meta's Llama 3.2 1B/3B and 3.1 8B/70B/405B config.json)",
)
BARE_COUNT_REFERENCE = Heuristic(
    "formats_reference_params", 8_000_000_000, "parameters (the size `vramcalc formats` states a llama.cpp file "
    "type's bits per weight at)",
    "the Llama 3.1 8B size class: the representative decoder at 8B has Meta's Llama-3.1-8B shapes (32 layers, "
    "hidden 4096, meta-llama/Llama-3.1-8B config.json), so the figure is what `estimate 8B-<type>` prices",
)

# --------------------------------------------------------------------------- training (vramcalc train)
# What one optimizer step of a causal LM holds on the GPU, walked from what PyTorch autograd saves for backward in a
# transformers 5.17 Llama-style block (torch 2.11, sdpa). The saved-tensor counts were read off the autograd graph
# (every `_saved_*` tensor of every node, deduplicated by storage) of small Llama models in fp32, bf16 and fp32 +
# bf16 autocast, and with peft LoRA; checked against every run of tests/data/measurements/h100-train.jsonl
# (tests/test_train_accuracy.py). Optimizer state layouts are in calculator/optimizers.py.
_TORCH_DERIV = ("pytorch/pytorch tools/autograd/derivatives.yaml (an input is saved only when another input's grad "
                "needs it)")
_LLAMA = "huggingface/transformers src/transformers/models/llama/modeling_llama.py"

TRAIN_CUBLAS_WORKSPACES = Heuristic(
    "train_cublas_workspaces", 2, "cuBLAS workspaces of 32 MiB (CUBLAS_WORKSPACE_CONFIG :4096:8)",
    "cuBLAS handles and their workspaces are per thread and stream: the forward runs on the Python thread, backward "
    "on autograd's device thread, each takes one from the caching allocator and keeps it; measured: "
    "steady_allocated − weights − AdamW states = 64.0 MiB in the full_bf16 and lora_bf16 runs "
    "(tests/data/measurements/h100-train.jsonl)",
)
TRAIN_RMSNORM_SAVED = Heuristic(
    "train_rmsnorm_saved", 4, "bytes per hidden element (the fp32 input) + the normalized input when the weight trains",
    f"{_LLAMA} LlamaRMSNorm: `x.to(float32)` is saved by pow, `rsqrt` by mul (4 B per token); `weight * "
    f"x_normed.to(input_dtype)` saves x_normed only when the weight trains ({_TORCH_DERIV}); Gemma's norm keeps "
    "x_normed in fp32; LayerNorm saves its input, mean and rstd",
)
TRAIN_LINEAR_INPUT = Heuristic(
    "train_linear_input_saved", 1, "copy of a Linear's input per distinct dtype the consumers compute in",
    "mm saves its input when the weight needs a grad; consumers of one tensor in its own dtype share it (q/k/v read "
    "the same norm output), but autocast casts an fp32 input to bf16 for each Linear separately (its cache keeps "
    "weight casts only), and peft's LoRA casts x to the adapter's dtype in each lora_A (peft tuners/lora/layer.py "
    "Linear.forward, _cast_input_dtype); a frozen base Linear saves nothing",
)
TRAIN_SDPA_SAVED = Heuristic(
    "train_sdpa_saved", 4, "tensors of the compute dtype (q, k, v, output) + an fp32 logsumexp per head and token",
    "torch's flash / memory-efficient sdpa backward needs q, k, v, the output and the logsumexp (derivatives.yaml "
    "_scaled_dot_product_flash_attention); k and v stay at the KV heads (transformers passes enable_gqa=True when "
    "no mask is given, integrations/sdpa_attention.py); the output is already laid out (batch, seq, heads, dim), "
    "so o_proj's input is the same storage",
)
TRAIN_SDPA_MATH_SAVED = Heuristic(
    "train_sdpa_math_saved", 3, "fp32 tensors of heads × head_dim (scaled q, expanded k and v) + the probabilities",
    "fp32 with grouped KV heads runs aten's math path (only flash and math accept enable_gqa; flash has no fp32): "
    "_scaled_dot_product_attention_math saves q·scale, k repeated to every head and scaled, v repeated, and the "
    "_safe_softmax output (batch × heads × seq² fp32) for backward; o_proj gets a contiguous copy of the output",
)
TRAIN_GATED_MLP_SAVED = Heuristic(
    "train_gated_mlp_saved", 3, "intermediate-size tensors (act input, act output, up output) + down's input",
    f"{_LLAMA} LlamaMLP `down(act(gate(x)) * up(x))`: SiLU saves its input, the product saves both factors; "
    "down_proj's input (the product) is saved when down trains (GELU saves its input the same way; gelu_new, "
    "written in Python, keeps 4)",
)
TRAIN_LOGITS_BACKWARD = Heuristic(
    "train_logits_loss_copies", 3, "fp32 tensors of tokens × vocab live at log_softmax's backward",
    "transformers loss/loss_utils.py ForCausalLMLoss: `logits.float()` over every position, then F.cross_entropy = "
    "log_softmax (its fp32 output is saved) + nll_loss; backward: nll_loss_backward writes a dense tokens × vocab "
    "fp32 grad and log_softmax_backward another while the saved output is still live. Forward holds the logits in "
    "the compute dtype, their fp32 copy and log_softmax's output",
)
TRAIN_AUTOCAST_COPIES = Heuristic(
    "train_autocast_weight_copies", 2, "bytes per Linear weight element (bf16/fp16 copy)",
    "torch.autocast casts each fp32 Linear weight to bf16 (cached while the autocast region lasts); mm saves the "
    "copy for its input grad, so the copies live until each Linear's backward (aten/src/ATen/autocast_mode.cpp "
    "cached_cast)",
)
TRAIN_CHECKPOINT_KEEPS = Heuristic(
    "train_checkpoint_keeps", 1, "residual-stream tensor per decoder layer (its input)",
    "transformers gradient_checkpointing_enable (GradientCheckpointingLayer, torch.utils.checkpoint use_reentrant="
    "False): a layer's forward saves nothing but its inputs; backward recomputes one layer at a time",
)
TRAIN_LORA_ADAPTER_BYTES = Heuristic(
    "train_lora_adapter_bytes", 4, "bytes per adapter parameter (fp32), also for their grads and AdamW states",
    "peft get_peft_model(autocast_adapter_dtype=True, the default) casts bf16/fp16 adapter weights to fp32 (peft "
    "tuners_utils cast_adapter_dtype); measured: allocated_after_load − bf16 base = 4 B × 11,272,192 adapters "
    "(tests/data/measurements/h100-train.jsonl)",
)
TRAIN_DDP_BUCKETS = Heuristic(
    "train_ddp_gradient_buckets", 1, "copy of the gradients per GPU",
    "torch DistributedDataParallel with gradient_as_bucket_view=False (the default) allocates its all-reduce "
    "buckets as a second copy of every gradient (torch.nn.parallel.DistributedDataParallel docs: "
    "gradient_as_bucket_view saves 'the total gradients size')",
)
TRAIN_GATHERED_UNITS = Heuristic(
    "train_gathered_units", 2, "largest units (a decoder layer, the embedding or the LM head) gathered at once",
    "ZeRO-3 and FSDP FULL_SHARD all-gather one wrapped unit's parameters before it runs and free them after; the "
    "next unit is prefetched while one computes (DeepSpeed stage3_prefetch_bucket_size; FSDP BackwardPrefetch."
    "BACKWARD_PRE)",
)
TRAIN_REDUCE_BUCKET = Heuristic(
    "train_reduce_bucket", 2, "buffers of hidden² gradient elements",
    "DeepSpeed ZeRO-2/3 reduce in buckets of reduce_bucket_size elements (transformers' HfTrainerDeepSpeedConfig "
    "fills 'auto' with hidden_size²), two of them with overlap_comm (deepspeed/runtime/zero/stage_1_and_2.py "
    "ipg_buffer); FSDP holds one unit's unsharded grads before its reduce-scatter",
)
QLORA_NF4_BLOCK = Heuristic(
    "qlora_nf4_block", 64, "weights per NF4 block (8-bit absmax, + an fp32 scale per 256 blocks)",
    "bitsandbytes functional.py quantize_4bit(blocksize=64, quant_type='nf4') with compress_statistics=True "
    "(bnb_4bit_use_double_quant): 4 bits per weight + one 8-bit absmax per 64 + fp32 per 256 absmax blocks; "
    "transformers' bitsandbytes quantizer leaves the LM head, embeddings and norms unquantized",
)
QLORA_DEQUANT_TEMP = Heuristic(
    "qlora_dequantized_weight", 1, "base weight dequantized to the compute dtype at a time",
    "bitsandbytes autograd/_functions.py MatMul4Bit: forward and backward dequantize the Linear's NF4 weight to the "
    "compute dtype for one matmul and free it; the input is not saved (the base is frozen)",
)

# --------------------------------------------------------------------------- fit (vramcalc fit)
# What `vramcalc fit` plans with beside the engine models: the memory each engine leaves free on a device by default
# (--margin; vLLM's is 1 − its gpu_memory_utilization, VLLM_GPU_MEMORY_UTILIZATION above) and the arithmetic of the
# speed bounds. The figures of the GPUs themselves (memory, bandwidth, throughput) are in gpus.toml with sources.

LLAMACPP_FIT_MARGIN = Heuristic(
    "llamacpp_fit_margin", 1024 * 2**20, "bytes left free per device",
    "llama.cpp's own fitting target: common_params.fit_params_target = 1024 MiB per device (ggml-org/llama.cpp "
    "common/common.h: 'margin per device in bytes for fitting parameters to free memory'; -fitt sets it), the memory "
    "llama-fit-params and --fit on (common/fit.cpp, common_params_fit_impl) leave free on every device",
)
TRANSFORMERS_FIT_MARGIN = Heuristic(
    "transformers_fit_margin", 0.10, "fraction of each GPU left free",
    "the share transformers itself holds back from every max_memory budget before accelerate infers a device_map "
    "for a quantized model (transformers quantizers/quantizer_bnb_4bit.py and quantizer_bnb_8bit.py "
    "adjust_max_memory: 'need more space for buffers that are created during quantization', max_memory × 0.90); "
    "used for every transformers row as room for what the estimate does not count",
)
FIT_FLOPS_PER_PARAM = Heuristic(
    "flops_per_param_per_token", 2, "FLOPs per active weight per token (one multiply-add)",
    "a forward pass costs one multiply-add per weight per token, C_forward ≈ 2N (Kaplan et al. 2020, 'Scaling Laws "
    "for Neural Language Models', section 2.1); causal attention adds 2 × context² × heads × head_dim per layer "
    "(QKᵀ and AV: c²·d multiply-adds each, halved by the causal mask)",
)
FIT_REPRESENTATIVE_MAX_CONTEXT = Heuristic(
    "fit_representative_max_context", 131_072, "tokens",
    "the longest context searched for a bare count's representative decoder, which states none: Llama 3.1's "
    "max_position_embeddings (meta-llama/Llama-3.1-8B config.json), the family the decoder is shaped after",
)
