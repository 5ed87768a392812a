"""Llama 4 text models: chunked attention on rope layers (every fourth layer global), MoE every
interleave_moe_layer_step-th layer with one shared expert as wide as intermediate_size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """Llama 4 text: every interleave_moe_layer_step-th layer is MoE (a router, fused expert stacks gate_up
    [E, H, 2I] and down [E, I, H], and one shared expert of width I); the others are dense MLPs of
    intermediate_size_mlp. QK norm is a weightless L2 norm."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(cfg.get("intermediate_size") or 8192)
    dense = int(cfg.get("intermediate_size_mlp") or 2 * inter)
    experts, step = int(arch.num_experts or 1), int(cfg.get("interleave_moe_layer_step") or 1)
    p0 = "language_model.model."
    b.add(p0 + "embed_tokens.weight", v, h)
    for i, att in enumerate(arch.layers):
        p = f"{p0}layers.{i}."
        b.add(p + "input_layernorm.weight", h)
        b.add(p + "post_attention_layernorm.weight", h)
        q_out, kv_out = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
        for proj, rows, cols in (("q_proj", q_out, h), ("k_proj", kv_out, h), ("v_proj", kv_out, h),
                                 ("o_proj", h, q_out)):
            b.add(p + f"self_attn.{proj}.weight", rows, cols)
        f = p + "feed_forward."
        if (i + 1) % step == 0:
            b.add(f + "router.weight", experts, h)
            b.add(f + "experts.gate_up_proj", experts, h, 2 * inter)
            b.add(f + "experts.down_proj", experts, inter, h)
            width, f = inter, f + "shared_expert."
        else:
            width = dense
        b.add(f + "gate_proj.weight", width, h)
        b.add(f + "up_proj.weight", width, h)
        b.add(f + "down_proj.weight", h, width)
    b.add(p0 + "norm.weight", h)
    if not arch.tie_word_embeddings:
        b.add("language_model.lm_head.weight", v, h)
    return []


FAMILIES = [
    Family(model_types=("llama4_text",), sliding="chunked", shared_expert_default=1, moe_width_is_intermediate=True,
           builder=build),
]
