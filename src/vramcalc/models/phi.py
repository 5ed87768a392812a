"""Phi-1/1.5/2: plain MLP, one LayerNorm per block (parallel attention and MLP), rotary positions."""

from vramcalc.models.family import Family

FAMILIES = [Family(model_types=("phi",), mlp="plain", norm="layernorm")]
