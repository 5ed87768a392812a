"""DeepSeek-V2/V3 and Kimi-K2: multi-head latent attention (MLA), routed and shared experts after dense layers.
Newer MLA models whose transformers classes (5.17) still cache K and V expanded per head are marked so."""

from vramcalc.models.family import Family

FAMILIES = [
    Family(model_types=("deepseek_v2", "deepseek_v3", "kimi_k2"), kv="mla"),
    Family(model_types=("deepseek_v32", "glm_moe_dsa", "glm5_next", "hy_v4", "axk2"), kv="mla",
           transformers_full_mla=True),
]
