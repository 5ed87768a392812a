"""Activation memory at each engine's peak, from the tensors that are live at that moment.

transformers: the prefill forward of `generate()` (sdpa), as the larger of an MLP/MoE phase and an attention phase,
plus what lives through the whole forward (inputs, a materialised mask). vLLM: the profile run at
max_num_batched_tokens. llama.cpp: the CUDA compute buffer of one ubatch (ggml reuses buffers between nodes, so the
buffer is the larger of the logits phase and the attention phase).
Every multiplier is a named `Heuristic` whose source says which code or measurement it comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vramcalc import heuristics as H

if TYPE_CHECKING:
    from collections.abc import Iterable

    from vramcalc.architecture import Architecture, Attention

# What a family is (gated or plain MLP, learned positions, default activation, Qwen2-MoE's sliding mask) comes from
# arch.family (vramcalc.models). Activations written as Python expressions in transformers (several temporaries),
# not one fused kernel:
_PYTHON_ACTS = frozenset({"gelu_new", "gelu_fast", "quick_gelu"})


@dataclass(frozen=True)
class Part:
    """One named tensor group at the peak: bytes and the formula that gives them."""

    name: str
    nbytes: int
    formula: str
    # Same-size tensors allocated and freed at every layer: the caching allocator hands the same blocks back, so
    # they add no fragmentation slack (the sdpa math path's score matrices).
    reused_whole: bool = False


@dataclass
class ActivationPeak:
    """The live tensors at an engine's activation peak: the phase that peaks, its parts and the constants used."""

    phase: str
    parts: list[Part] = field(default_factory=list)
    heuristics: list[H.Heuristic] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.parts)

    def explain(self) -> list[str]:
        return [f"{p.name}: {p.formula} = {p.nbytes:,} B" for p in self.parts]


def _attn_layers(arch: Architecture) -> list[Attention]:
    return [a for a in arch.layers if a.kind not in ("linear", "mamba", "none")] or list(arch.layers)


def _inter(arch: Architecture) -> int:
    return int(arch.intermediate_size or 4 * arch.hidden_size)


def _hidden_act(arch: Architecture) -> str:
    act = arch.extra.get("hidden_act") or arch.extra.get("activation_function")
    return str(act or arch.family.default_act or "silu")


def _shared_intermediate(arch: Architecture) -> int:
    """Width of the always-on shared expert MLP (DeepSeek: n_shared × moe width; Qwen2-MoE: its own size)."""
    explicit = arch.extra.get("shared_expert_intermediate_size")
    if explicit:
        return int(explicit)
    if arch.num_shared_experts and arch.moe_intermediate_size:
        return int(arch.num_shared_experts) * int(arch.moe_intermediate_size)
    if arch.family.shared_expert_width_default:  # Qwen2-MoE: shared_expert_intermediate_size defaults to it
        return _inter(arch)
    return 0


def _sdpa_math_path(arch: Architecture, act_bytes: int) -> bool:
    """Does sdpa fall back to its math kernel (materialising the scores)?

    transformers passes enable_gqa=True when KV heads are grouped; only the flash kernel (fp16/bf16) and the math
    kernel accept it, so fp32 with grouped heads runs the math path. Other cases get a fused kernel.
    """
    return act_bytes >= 4 and any(a.num_kv_heads < a.num_heads for a in _attn_layers(arch))


def _sliding_mask_tokens(arch: Architecture, tokens: int) -> bool:
    """Is a boolean (batch, 1, q, kv) mask materialised? transformers skips it (sdpa is_causal) unless a sliding
    window applies: masking_utils._ignore_causal_mask_sdpa refuses to skip once kv_length ≥ the window."""
    if arch.family.sliding_mask_always:
        return True
    windows = [a.window for a in arch.layers if a.kind in ("sliding", "chunked") and a.window]
    return bool(windows) and tokens >= min(windows)


def transformers_prefill(arch: Architecture, batch: int, tokens: int, act_bytes: int) -> ActivationPeak:
    """Peak activation bytes of `generate()`'s prefill of `batch` prompts of `tokens` tokens (sdpa attention)."""
    h, eb, n = arch.hidden_size, act_bytes, batch * tokens
    attn = _attn_layers(arch)
    heads = max(a.num_heads for a in attn)
    rope_dim = max((a.qk_rope_head_dim or a.head_dim) for a in attn)
    hidden_live = int(H.TRANSFORMERS_HIDDEN_LIVE.value)
    heur = [H.TRANSFORMERS_HIDDEN_LIVE, H.TRANSFORMERS_INPUT_TENSORS]

    if arch.family.positions == "learned":
        pos_elems, pos_what = h, "learned position embeddings (1 × hidden)"
    else:
        pos_elems, pos_what = 2 * rope_dim, f"rope cos + sin (2 × {rope_dim})"
    base_elems = hidden_live * h + pos_elems
    base = Part("hidden states", n * base_elems * eb,
                f"{n:,} tokens × ({hidden_live} × {h} + {pos_what}) × {eb} B")

    # --- the MLP / MoE phase
    phases: list[tuple[str, Part]] = []
    inter = _inter(arch)
    ungated = not arch.family.gated
    act = _hidden_act(arch)
    if ungated:
        live = int(H.TRANSFORMERS_PYTHON_GELU_LIVE.value) if act in _PYTHON_ACTS else 2
        if act in _PYTHON_ACTS:
            heur.append(H.TRANSFORMERS_PYTHON_GELU_LIVE)
        dense_part = Part("MLP", n * live * inter * eb, f"{n:,} × {live} × intermediate {inter} × {eb} B ({act})")
    else:
        live = int(H.TRANSFORMERS_MLP_LIVE.value)
        heur.append(H.TRANSFORMERS_MLP_LIVE)
        dense_part = Part("MLP", n * live * inter * eb, f"{n:,} × {live} × intermediate {inter} × {eb} B (gated)")
    if arch.is_moe:
        k = int(arch.experts_per_token or 1)
        moe_i = int(arch.moe_intermediate_size or inter)
        g = int(H.TRANSFORMERS_GROUPED_MM_LIVE.value)
        shared_i = _shared_intermediate(arch)
        routed = k * h + g * k * moe_i + (h if shared_i else 0)
        heur.append(H.TRANSFORMERS_GROUPED_MM_LIVE)
        phases.append(("moe", Part(
            "MoE experts (grouped_mm)", n * routed * eb,
            f"{n:,} × ({k} experts × (hidden {h} + {g} × {moe_i})" + (" + shared output" if shared_i else "")
            + f") × {eb} B")))
        if shared_i:
            phases.append(("shared expert", Part("shared expert MLP", n * live * shared_i * eb,
                                                 f"{n:,} × {live} × {shared_i} × {eb} B")))
        if arch.first_dense_layers:
            phases.append(("mlp", dense_part))
    else:
        phases.append(("mlp", dense_part))

    # --- the attention phase
    a0 = max(attn, key=lambda a: a.num_heads * a.head_dim)
    v_dim = a0.v_head_dim or a0.head_dim
    if a0.kv_lora_rank:
        # transformers' MLA expands the latent per head: q and k (nope + rope), v, and kv_b_proj's output.
        nope = a0.head_dim - (a0.qk_rope_head_dim or 0)
        q_elems = a0.num_heads * (2 * a0.head_dim + v_dim + nope + v_dim)
        attn_what = f"MLA q, k ({a0.head_dim}), v ({v_dim}), kv_b_proj output per head × {a0.num_heads}"
    else:
        q_elems = 2 * a0.num_heads * a0.head_dim + a0.num_kv_heads * (a0.head_dim + v_dim)
        attn_what = f"q + output ({a0.num_heads} × {a0.head_dim}) + k, v ({a0.num_kv_heads} heads)"
    if _sdpa_math_path(arch, eb):
        m = int(H.TRANSFORMERS_MATH_SCORES.value)
        per_score = heads * (m * eb + 1) + eb
        expanded = 4 * a0.num_heads * a0.head_dim  # q, q·scale, k and v repeated to every head
        scores = batch * tokens * tokens * per_score
        heur.append(H.TRANSFORMERS_MATH_SCORES)
        phases.append(("attention (sdpa math)", Part(
            "attention scores (sdpa math path)", scores + n * expanded * eb,
            f"{batch} × {tokens:,}² × ({heads} heads × ({m} × {eb} B + 1) + {eb} B causal mask)"
            f" + {n:,} × 4 × {a0.num_heads} × {a0.head_dim} × {eb} B", reused_whole=True)))
    else:
        phases.append(("attention", Part("attention (fused sdpa)", n * q_elems * eb,
                                         f"{n:,} × {attn_what} × {eb} B")))

    phase, peak = max(phases, key=lambda p: p[1].nbytes)
    parts = [base, peak]
    if _sliding_mask_tokens(arch, tokens):
        parts.append(Part("attention mask", batch * tokens * tokens,
                          f"{batch} × {tokens:,} × {tokens:,} bool (sliding-window mask is not skipped)"))
    inputs = int(H.TRANSFORMERS_INPUT_TENSORS.value)
    parts.append(Part("inputs", n * inputs * 8, f"{inputs} × {n:,} int64 (input_ids, attention_mask)"))
    if not arch.is_encoder:  # an embedding model returns hidden states; it has no vocabulary logits to keep
        parts.append(Part("last-token logits", batch * arch.vocab_size * (eb + 4),
                          f"{batch} × vocab {arch.vocab_size:,} × ({eb} B + fp32 copy); generate keeps only the last "
                          "position (logits_to_keep=1)"))
    return ActivationPeak(phase, parts, heur)


def vllm_profile(arch: Architecture, max_num_batched_tokens: int, max_num_seqs: int, act_bytes: int = 2
                 ) -> ActivationPeak:
    """vLLM's profiled activation peak: one forward of max_num_batched_tokens tokens and the sampler's dummy run."""
    n, h, eb = max_num_batched_tokens, arch.hidden_size, act_bytes
    live = int(H.VLLM_PROFILE_LIVE.value)
    if arch.is_moe:
        k = int(arch.experts_per_token or 1)
        width = k * int(arch.moe_intermediate_size or _inter(arch)) + _shared_intermediate(arch)
        what = f"{k} experts × {arch.moe_intermediate_size} + shared {_shared_intermediate(arch)}"
    else:
        width, what = _inter(arch), f"intermediate {_inter(arch)}"
    mlp = Part("MLP", n * (live * width + 4 * h) * eb, f"{n:,} batched tokens × ({live} × {what} + 4 × {h}) × {eb} B")
    sampler = Part("sampler", 2 * max_num_seqs * arch.vocab_size * 4,
                   f"2 × {max_num_seqs} sequences × vocab {arch.vocab_size:,} × 4 B (fp32 logits + probabilities)")
    return ActivationPeak("profile run", [mlp, sampler], [H.VLLM_PROFILE_LIVE, H.VLLM_MAX_NUM_SEQS])


def llamacpp_compute(arch: Architecture, n_ctx: int, n_ubatch: int, flash_attention: bool, *,
                     output_copy_bytes: int = 0, host_tensor_bytes: int = 0, host_kv_bytes: int = 0) -> ActivationPeak:
    """The CUDA compute buffer ggml-alloc reserves for one worst-case ubatch: the largest of its phases.

    ggml's graph allocator reuses buffers, so the buffer is the largest set of tensors live at one time. With every
    layer offloaded that is the logits phase, or the KQ phase without flash attention. Op offload adds the copies
    of host-resident tensors (llama.cpp runs a host weight's matmul on the GPU once the ubatch has
    LLAMACPP_OP_OFFLOAD_MIN_BATCH tokens): `output_copy_bytes` is the output layer's weight when the output layer
    stays in host memory (-ngl 0), `host_tensor_bytes` the largest weight tensor of a layer left in host memory and
    `host_kv_bytes` the K and V of the largest such layer (its cache lives in host memory too). The caller passes
    zeros where no op is offloaded.
    """
    h, ub = arch.hidden_size, n_ubatch
    g = int(H.LLAMACPP_GRAPH_HIDDEN.value)
    logits = Part("logits", ub * (arch.vocab_size + g * h) * 4,
                  f"n_ubatch {ub} × (n_vocab {arch.vocab_size:,} + {g} × hidden {h}) × 4 B (f32)")
    heur = [H.LLAMACPP_GRAPH_HIDDEN]
    phases: list[tuple[str, list[Part]]] = []
    logits_phase = [logits]
    if output_copy_bytes:
        logits_phase.append(Part("output weight copy (op offload)", output_copy_bytes,
                                 "the output layer's weight, copied from host memory for its matmul on the GPU"))
    phases.append(("logits", logits_phase))
    kv_copy = Part("host layer K and V copy (op offload)", host_kv_bytes,
                   "one host layer's K and V cells, copied in for its attention on the GPU")
    if not flash_attention:
        heads = max(a.num_heads for a in _attn_layers(arch))
        kq_b = int(H.LLAMACPP_KQ_BYTES.value)
        kq = Part("KQ (no flash attention)", n_ctx * ub * heads * kq_b + n_ctx * ub * 4 + 4 * ub * h * 4,
                  f"n_ctx {n_ctx:,} × n_ubatch {ub} × {heads} heads × {kq_b} B + f32 mask {n_ctx:,} × {ub}"
                  f" + 4 × {ub} × {h} × 4 B (input, norm, Q, KQV)")
        heur.append(H.LLAMACPP_KQ_BYTES)
        phases.insert(0, ("attention", [kq] + ([kv_copy] if host_kv_bytes else [])))
    elif host_kv_bytes:
        a = int(H.LLAMACPP_OFFLOAD_ATTN_HIDDEN.value)
        heur.append(H.LLAMACPP_OFFLOAD_ATTN_HIDDEN)
        phases.append(("attention (host KV)", [
            Part("flash attention of a host layer", n_ctx * ub * 2 + a * ub * h * 4,
                 f"f16 mask {n_ctx:,} × {ub} × 2 B + {a} × {ub} × {h} × 4 B (residual, Q, output)"), kv_copy]))
    if host_tensor_bytes:
        f = int(H.LLAMACPP_OFFLOAD_FFN_LIVE.value)
        width, what = _llamacpp_ffn_width(arch)
        heur.append(H.LLAMACPP_OFFLOAD_FFN_LIVE)
        phases.append(("host layer FFN", [
            Part("host layer FFN activations", ub * (2 * h + f * width) * 4,
                 f"n_ubatch {ub} × (2 × hidden {h} + {f} × {what}) × 4 B (f32)"),
            Part("host weight copy (op offload)", host_tensor_bytes,
                 "the largest weight tensor of a layer left in host memory, copied in for its matmul on the GPU")]))
    if output_copy_bytes or host_tensor_bytes or host_kv_bytes:
        heur += [H.LLAMACPP_OP_OFFLOAD_MIN_BATCH, H.LLAMACPP_OFFLOAD_WEIGHT_COPIES]
    phase, parts = max(phases, key=lambda p: sum(part.nbytes for part in p[1]))
    return ActivationPeak(phase, parts, heur)


def _llamacpp_ffn_width(arch: Architecture) -> tuple[int, str]:
    """The widest per-token FFN output of a layer: the dense intermediate, or experts per token × expert width."""
    if not arch.is_moe:
        return _inter(arch), f"intermediate {_inter(arch)}"
    k = int(arch.experts_per_token or 1)
    moe_i = int(arch.moe_intermediate_size or _inter(arch))
    if arch.first_dense_layers and _inter(arch) > k * moe_i:
        return _inter(arch), f"intermediate {_inter(arch)} (dense layers)"
    return k * moe_i, f"{k} experts × {moe_i}"


def llamacpp_largest_layer_tensor(arch: Architecture, repeating_bytes: int) -> int:
    """Bytes of the largest weight tensor inside the repeating layers, from the shapes, when no inventory says.

    Each layer's tensors are counted from the architecture (attention projections, the dense or expert FFN
    matrices, the router); the repeating layers' bytes are shared out by element count, so a mix that stores
    some tensors with more bits (Q4_K_M's Q6_K ffn_down) is priced at its average bits per weight.
    """
    h = arch.hidden_size
    ffn = 3 if arch.family.gated else 2
    dense_i = _inter(arch)
    experts = int(arch.num_experts or 0)
    moe_i = int(arch.moe_intermediate_size or dense_i)
    shared_i = _shared_intermediate(arch)
    total = largest = 0
    for i, a in enumerate(arch.layers):
        v_dim = a.v_head_dim or a.head_dim
        attn = [h * a.num_heads * a.head_dim, h * a.num_kv_heads * a.head_dim, h * a.num_kv_heads * v_dim,
                a.num_heads * v_dim * h]
        if arch.is_moe and i >= arch.first_dense_layers:
            mats = [experts * h * moe_i] * ffn + [h * shared_i] * ffn * (1 if shared_i else 0) + [h * experts]
        else:
            mats = [h * dense_i] * ffn
        total += sum(attn) + sum(mats)
        largest = max(largest, *attn, *mats)
    return repeating_bytes * largest // total if total else 0


# One expert's matrix in Hugging Face naming (`mlp.experts.3.down_proj.weight`); GGUF stores a layer's experts as
# one tensor per projection (ffn_down_exps), and llama.cpp's converter splits a fused gate_up into gate and up.
_PER_EXPERT = re.compile(r"\.experts\.\d+\.")
_NOT_IN_LAYERS = frozenset({"embeddings", "lm_head", "vision", "projector"})


def llamacpp_largest_tensor(tensors: Iterable[tuple[str, int]]) -> int:
    """The largest weight tensor of the repeating layers as a GGUF lays it out, from (name, bytes) pairs.

    Per-expert matrices of one layer and projection are summed (GGUF fuses them into one 3-D tensor, which op offload
    copies whole); a Hugging Face fused `gate_up_proj` counts half (llama.cpp stores gate and up apart). Embeddings,
    the output layer and vision/projector tensors are left out.
    """
    from vramcalc.components import classify

    sizes: dict[str, int] = {}
    for name, nbytes in tensors:
        if classify(name) in _NOT_IN_LAYERS:
            continue
        if "gate_up" in name:
            nbytes //= 2
        key = _PER_EXPERT.sub(".experts.*.", name)
        sizes[key] = sizes.get(key, 0) + nbytes
    return max(sizes.values(), default=0)
