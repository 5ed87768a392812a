"""Qwen2/Qwen3 (dense and MoE): sliding window from max_window_layers on when use_sliding_window; Qwen3 norms q/k."""

from vramcalc.models.family import Family

FAMILIES = [
    Family(model_types=("qwen2",), sliding="max_window_layers", qkv_bias=True, o_proj_bias=False),
    # transformers 5.17 builds a sliding-window mask for Qwen2-MoE even when no layer slides
    # (configuration_qwen2_moe.py sets sliding_window = 0 when use_sliding_window is off); its shared expert is
    # as wide as intermediate_size unless shared_expert_intermediate_size says
    Family(model_types=("qwen2_moe",), sliding="max_window_layers", sliding_mask_always=True,
           shared_expert_width_default=True, qkv_bias=True, o_proj_bias=False, shared_expert_gate=True),
    Family(model_types=("qwen3", "qwen3_moe"), sliding="max_window_layers", qk_norm=True),
]
