"""gpt-oss: biased attention with sinks, alternating sliding layers (layer_types), MXFP4 experts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """OpenAI gpt-oss: biased attention with a learned sink per head, a biased router, and fused expert stacks
    (gate_up [E, H, 2I], down [E, I, H], each with a bias). The published checkpoints store the experts in MXFP4:
    uint8 blocks of 32 FP4 values (16 bytes) and one uint8 E8M0 scale per block; everything else in bf16."""
    h, v, inter = arch.hidden_size, arch.vocab_size, int(arch.intermediate_size or arch.hidden_size)
    experts = int(arch.num_experts or 1)
    mxfp4 = str((cfg.get("quantization_config") or {}).get("quant_method", "")).lower() == "mxfp4"
    b.add("model.embed_tokens.weight", v, h)
    for i, att in enumerate(arch.layers):
        p = f"model.layers.{i}."
        b.add(p + "input_layernorm.weight", h)
        b.add(p + "post_attention_layernorm.weight", h)
        a = p + "self_attn."
        q_out, kv_out = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
        for proj, rows, cols in (("q_proj", q_out, h), ("k_proj", kv_out, h), ("v_proj", kv_out, h),
                                 ("o_proj", h, q_out)):
            b.add(a + f"{proj}.weight", rows, cols)
            b.add(a + f"{proj}.bias", rows)
        b.add(a + "sinks", att.num_heads)
        b.add(p + "mlp.router.weight", experts, h)
        b.add(p + "mlp.router.bias", experts)
        e = p + "mlp.experts."
        for name, rows, cols in (("gate_up_proj", 2 * inter, h), ("down_proj", h, inter)):
            if mxfp4:  # [E, out, in/32, 16] blocks + [E, out, in/32] scales, as the checkpoint stores them
                b.add_raw(e + f"{name}_blocks", "U8", (experts, rows, cols // 32, 16))
                b.add_raw(e + f"{name}_scales", "U8", (experts, rows, cols // 32))
            else:
                b.add(e + name, experts, cols, rows)
            b.add(e + f"{name}_bias", experts, rows)
    b.add("model.norm.weight", h)
    b.add("lm_head.weight", v, h)
    return ["gpt-oss: experts counted as the checkpoint stores them (MXFP4 blocks and scales)"] if mxfp4 else []


FAMILIES = [Family(model_types=("gpt_oss",), builder=build)]
