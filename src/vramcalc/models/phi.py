"""Phi-1/1.5/2: plain MLP, one LayerNorm per block (parallel attention and MLP), rotary positions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.blocks import ungated_layer
from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """Phi-1/1.5/2: parallel attention and MLP behind one LayerNorm, split QKV, biases, a biased LM head."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(arch.intermediate_size or 4 * h)
    att = arch.layers[0]
    qkv = (att.num_heads + 2 * att.num_kv_heads) * att.head_dim
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "out": "self_attn.dense",
             "up": "mlp.fc1", "down": "mlp.fc2"}
    b.add("model.embed_tokens.weight", v, h)
    for i in range(arch.num_layers):
        ungated_layer(b, f"model.layers.{i}.", names, h, qkv, inter, True, ("input_layernorm",))
    b.add("model.final_layernorm.weight", h)
    b.add("model.final_layernorm.bias", h)
    b.add("lm_head.weight", v, h)
    b.add("lm_head.bias", v)
    return []


FAMILIES = [Family(model_types=("phi",), mlp="plain", norm="layernorm", builder=build)]
