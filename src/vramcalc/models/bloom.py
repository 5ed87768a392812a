"""BLOOM: plain MLP, LayerNorm (also after the embeddings), ALiBi positions, tied embeddings."""

from vramcalc.models.family import Family

FAMILIES = [Family(model_types=("bloom",), mlp="plain", norm="layernorm", positions="alibi", tied_default=True)]
