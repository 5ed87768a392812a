"""GPT-NeoX / Pythia: plain MLP, LayerNorm with biases, fused QKV, rotary positions."""

from vramcalc.models.family import Family

FAMILIES = [Family(model_types=("gpt_neox",), mlp="plain", norm="layernorm")]
