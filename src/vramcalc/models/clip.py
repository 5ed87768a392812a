"""CLIP: the text tower (Stable Diffusion's and FLUX's text encoder) and CLIPModel; one pass, no KV cache."""

from vramcalc.models.family import Family

FAMILIES = [Family(model_types=("clip", "clip_text_model"), role="clip", mlp="plain", norm="layernorm",
                   positions="learned")]
