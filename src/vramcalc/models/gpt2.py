"""GPT-2 and GPT-BigCode: plain MLP (c_fc → gelu → c_proj), LayerNorm, learned positions."""

from vramcalc.models.family import Family

FAMILIES = [
    Family(model_types=("gpt2",), mlp="plain", default_act="gelu_new", norm="layernorm", positions="learned",
           tied_default=True),
    Family(model_types=("gpt_bigcode",), mlp="plain", default_act="gelu_pytorch_tanh", norm="layernorm",
           positions="learned"),
]
