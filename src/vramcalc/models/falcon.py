"""Falcon: plain MLP, LayerNorm, multi-query or grouped KV heads, tied embeddings; llama.cpp's type rules treat its
output and ffn_down apart."""

from vramcalc.models.family import Family

FAMILIES = [Family(model_types=("falcon",), mlp="plain", norm="layernorm", tied_default=True, llamacpp_arch="falcon")]
