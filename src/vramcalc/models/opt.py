"""OPT: plain MLP (fc1 → relu → fc2), LayerNorm, learned positions (offset by 2), tied embeddings."""

from vramcalc.models.family import Family

FAMILIES = [Family(model_types=("opt",), mlp="plain", norm="layernorm", positions="learned", tied_default=True)]
