"""Llama 4 text models: chunked attention on rope layers (every fourth layer global), MoE every
interleave_moe_layer_step-th layer with one shared expert as wide as intermediate_size."""

from vramcalc.models.family import Family

FAMILIES = [
    Family(model_types=("llama4_text",), sliding="chunked", shared_expert_default=1, moe_width_is_intermediate=True),
]
