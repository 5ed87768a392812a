"""StarCoder2: plain MLP (c_fc → gelu_pytorch_tanh → c_proj), biases on every projection (use_bias), LayerNorm with
biases, one sliding window on every layer, tied embeddings (transformers' modeling_starcoder2.py and
configuration_starcoder2.py). bigcode/starcoder2-3b: 3,030,371,328 parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(cfg.get("intermediate_size") or 4 * h)
    bias = bool(cfg.get("use_bias", True))
    b.add("model.embed_tokens.weight", v, h)
    for i, att in enumerate(arch.layers):
        p = f"model.layers.{i}."
        q_out, kv_out = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
        for name, rows, cols in (("self_attn.q_proj", q_out, h), ("self_attn.k_proj", kv_out, h),
                                 ("self_attn.v_proj", kv_out, h), ("self_attn.o_proj", h, q_out),
                                 ("mlp.c_fc", inter, h), ("mlp.c_proj", h, inter)):
            b.add(p + name + ".weight", rows, cols)
            if bias:
                b.add(p + name + ".bias", rows)
        for norm in ("input_layernorm", "post_attention_layernorm"):
            b.add(p + norm + ".weight", h)
            b.add(p + norm + ".bias", h)
    b.add("model.norm.weight", h)
    b.add("model.norm.bias", h)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, h)
    return []


FAMILIES = [Family(model_types=("starcoder2",), mlp="plain", default_act="gelu_pytorch_tanh", norm="layernorm",
                   sliding="all", tied_default=True, builder=build)]
