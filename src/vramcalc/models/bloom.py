"""BLOOM: plain MLP, LayerNorm (also after the embeddings), ALiBi positions, tied embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.blocks import ungated_layer
from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """BLOOM: ALiBi (no position table), a LayerNorm right after the embeddings, fused QKV, tied embeddings."""
    h, v = arch.hidden_size, arch.vocab_size
    names = {"qkv": "self_attention.query_key_value", "out": "self_attention.dense", "up": "mlp.dense_h_to_4h",
             "down": "mlp.dense_4h_to_h"}
    b.add("transformer.word_embeddings.weight", v, h)
    b.add("transformer.word_embeddings_layernorm.weight", h)
    b.add("transformer.word_embeddings_layernorm.bias", h)
    for i in range(arch.num_layers):
        ungated_layer(b, f"transformer.h.{i}.", names, h, 3 * h, 4 * h, True,
                      ("input_layernorm", "post_attention_layernorm"))
    b.add("transformer.ln_f.weight", h)
    b.add("transformer.ln_f.bias", h)
    return []


FAMILIES = [Family(model_types=("bloom",), mlp="plain", norm="layernorm", positions="alibi", tied_default=True,
                   builder=build)]
