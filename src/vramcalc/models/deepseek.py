"""DeepSeek-V2/V3 and Kimi-K2: multi-head latent attention (MLA), routed and shared experts after dense layers;
DeepSeek-V3's router carries a score-correction bias. Newer MLA models whose transformers classes (5.17) still cache
K and V expanded per head are marked so (and are built as grouped-query decoders)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.decoder import build_decoder, nextn_warning
from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    build_decoder(b, cfg, arch, mla=True)
    return nextn_warning(cfg, arch)


FAMILIES = [
    Family(model_types=("deepseek_v2", "kimi_k2"), kv="mla", builder=build),
    Family(model_types=("deepseek_v3",), kv="mla", router_bias=True, builder=build),
    Family(model_types=("deepseek_v32", "glm_moe_dsa", "glm5_next", "hy_v4", "axk2"), kv="mla",
           transformers_full_mla=True),
]
