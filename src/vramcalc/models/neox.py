"""GPT-NeoX / Pythia: plain MLP, LayerNorm with biases, fused QKV, rotary positions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.blocks import ungated_layer
from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """GPT-NeoX / Pythia: fused QKV, dense MLP, biases everywhere, an untied embed_out."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(arch.intermediate_size or 4 * h)
    names = {"qkv": "attention.query_key_value", "out": "attention.dense", "up": "mlp.dense_h_to_4h",
             "down": "mlp.dense_4h_to_h"}
    b.add("gpt_neox.embed_in.weight", v, h)
    for i in range(arch.num_layers):
        ungated_layer(b, f"gpt_neox.layers.{i}.", names, h, 3 * h, inter, True,
                      ("input_layernorm", "post_attention_layernorm"))
    b.add("gpt_neox.final_layer_norm.weight", h)
    b.add("gpt_neox.final_layer_norm.bias", h)
    if not cfg.get("tie_word_embeddings", False):
        b.add("embed_out.weight", v, h)
    return []


FAMILIES = [Family(model_types=("gpt_neox",), mlp="plain", norm="layernorm", builder=build)]
