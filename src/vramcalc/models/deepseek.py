"""DeepSeek-V2/V3 and Kimi-K2: multi-head latent attention (MLA), routed and shared experts after dense layers;
DeepSeek-V3's router carries a score-correction bias. DeepSeek-V3.2 adds, in every layer, the lightning indexer that
picks the tokens its sparse attention reads. Other newer MLA models whose transformers classes (5.17) still cache
K and V expanded per head are marked so (and are built as grouped-query decoders)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.decoder import build_decoder, nextn_warning
from vramcalc.models.family import Family
from vramcalc.models.tensors import dim

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    build_decoder(b, cfg, arch, mla=True)
    return nextn_warning(cfg, arch)


def build_v32(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """V3's decoder and each layer's indexer, as the checkpoint names it (`self_attn.indexer.*`; DeepSeek-V3.2-Exp
    inference/model.py `Indexer`: wq_b from the query's low-rank latent to index_n_heads × index_head_dim, wk from the
    hidden state to one key of index_head_dim, a LayerNorm on it, and weights_proj to one weight per index head, kept
    in the model's dtype where the rest is FP8)."""
    build_decoder(b, cfg, arch, mla=True)
    heads, head_dim = dim(cfg, "index_n_heads", 64), dim(cfg, "index_head_dim", 128)
    q_rank = dim(cfg, "q_lora_rank", arch.hidden_size)
    for i in range(len(arch.layers)):
        p = f"model.layers.{i}.self_attn.indexer."
        b.add(p + "wq_b.weight", heads * head_dim, q_rank)
        b.add(p + "wk.weight", head_dim, arch.hidden_size)
        b.add(p + "k_norm.weight", head_dim)
        b.add(p + "k_norm.bias", head_dim)
        b.add_raw(p + "weights_proj.weight", b.dtype, (heads, arch.hidden_size))
    return nextn_warning(cfg, arch)


FAMILIES = [
    Family(model_types=("deepseek_v2", "kimi_k2"), kv="mla", builder=build),
    Family(model_types=("deepseek_v3",), kv="mla", router_bias=True, builder=build),
    # GLM-5 (glm_moe_dsa) is V3.2's network with its own sizes: mlx-lm's glm_moe_dsa model is its DeepSeek-V3.2
    # model, vLLM's GLM-5 class its DeepSeek-V2 one with the indexer
    Family(model_types=("deepseek_v32", "glm_moe_dsa"), kv="mla", router_bias=True, transformers_full_mla=True,
           builder=build_v32),
    Family(model_types=("glm5_next", "hy_v4", "axk2"), kv="mla", transformers_full_mla=True),
]
