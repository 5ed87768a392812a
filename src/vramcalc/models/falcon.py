"""Falcon: plain MLP, LayerNorm, multi-query or grouped KV heads, tied embeddings; llama.cpp's type rules treat its
output and ffn_down apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.blocks import ungated_layer
from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """Falcon: fused QKV with grouped or one shared KV head, parallel attention (one LayerNorm for 7B; ln_attn and
    ln_mlp with the new decoder architecture), no linear biases by default, tied embeddings."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(cfg.get("ffn_hidden_size") or arch.intermediate_size or 4 * h)
    att = arch.layers[0]
    qkv = (att.num_heads + 2 * att.num_kv_heads) * att.head_dim
    names = {"qkv": "self_attention.query_key_value", "out": "self_attention.dense", "up": "mlp.dense_h_to_4h",
             "down": "mlp.dense_4h_to_h"}
    norms = ("ln_attn", "ln_mlp") if cfg.get("new_decoder_architecture") else ("input_layernorm",)
    b.add("transformer.word_embeddings.weight", v, h)
    for i in range(arch.num_layers):
        ungated_layer(b, f"transformer.h.{i}.", names, h, qkv, inter, bool(cfg.get("bias")), norms)
    b.add("transformer.ln_f.weight", h)
    b.add("transformer.ln_f.bias", h)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, h)
    return []


FAMILIES = [Family(model_types=("falcon",), mlp="plain", norm="layernorm", tied_default=True, llamacpp_arch="falcon",
                   multi_query=True, builder=build)]
