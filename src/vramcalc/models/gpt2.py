"""GPT-2 and GPT-BigCode: plain MLP (c_fc → gelu → c_proj), LayerNorm, learned positions; GPT-2's Conv1D stores
its weights [in, out]."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    from vramcalc.architecture import cfg_get  # the architecture layer imports this package

    h, v = arch.hidden_size, arch.vocab_size
    inner = int(cfg_get(cfg, "intermediate_size") or 4 * h)
    positions = int(cfg_get(cfg, "max_position_embeddings") or 1024)
    b.add("transformer.wte.weight", v, h)
    b.add("transformer.wpe.weight", positions, h)
    for i in range(arch.num_layers):
        p = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            b.add(p + f"{ln}.weight", h)
            b.add(p + f"{ln}.bias", h)
        # GPT-2 uses Conv1D: weights are stored [in, out].
        b.add(p + "attn.c_attn.weight", h, 3 * h)
        b.add(p + "attn.c_attn.bias", 3 * h)
        b.add(p + "attn.c_proj.weight", h, h)
        b.add(p + "attn.c_proj.bias", h)
        b.add(p + "mlp.c_fc.weight", h, inner)
        b.add(p + "mlp.c_fc.bias", inner)
        b.add(p + "mlp.c_proj.weight", inner, h)
        b.add(p + "mlp.c_proj.bias", h)
    b.add("transformer.ln_f.weight", h)
    b.add("transformer.ln_f.bias", h)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, h)
    return []



def build_bigcode(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """GPT-BigCode (StarCoder, SantaCoder): GPT-2's blocks in nn.Linear layout ([out, in]) with one fused c_attn of
    hidden + 2 × the K/V width — a single K/V head under multi_query (transformers' modeling_gpt_bigcode.py)."""
    from vramcalc.architecture import cfg_get  # the architecture layer imports this package

    h, v = arch.hidden_size, arch.vocab_size
    inner = int(cfg_get(cfg, "intermediate_size") or 4 * h)
    att = arch.layers[0]
    kv = att.num_kv_heads * att.head_dim
    b.add("transformer.wte.weight", v, h)
    b.add("transformer.wpe.weight", int(cfg_get(cfg, "max_position_embeddings") or 1024), h)
    for i in range(arch.num_layers):
        p = f"transformer.h.{i}."
        for name, rows, cols in (("attn.c_attn", h + 2 * kv, h), ("attn.c_proj", h, h), ("mlp.c_fc", inner, h),
                                 ("mlp.c_proj", h, inner)):
            b.add(p + name + ".weight", rows, cols)
            b.add(p + name + ".bias", rows)
        for ln in ("ln_1", "ln_2"):
            b.add(p + f"{ln}.weight", h)
            b.add(p + f"{ln}.bias", h)
    b.add("transformer.ln_f.weight", h)
    b.add("transformer.ln_f.bias", h)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, h)
    return []


FAMILIES = [
    Family(model_types=("gpt2",), mlp="plain", default_act="gelu_new", norm="layernorm", positions="learned",
           tied_default=True, builder=build),
    # GPTBigCodeConfig leaves tie_word_embeddings at PretrainedConfig's default (True)
    Family(model_types=("gpt_bigcode",), mlp="plain", default_act="gelu_pytorch_tanh", norm="layernorm",
           positions="learned", tied_default=True, multi_query=True, builder=build_bigcode),
]
