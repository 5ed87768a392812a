"""CLIP: the text tower (Stable Diffusion's and FLUX's text encoder) and CLIPModel; one pass, no KV cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.blocks import vit_layers, vit_tower
from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """CLIP's text tower (CLIPTextModel; the text encoder of Stable Diffusion and FLUX): token and position
    embeddings, pre-LN ViT-style blocks, a final LayerNorm."""
    h = arch.hidden_size
    p = "text_model."
    b.add(p + "embeddings.token_embedding.weight", arch.vocab_size, h)
    b.add(p + "embeddings.position_embedding.weight", int(arch.max_context or 77), h)
    vit_layers(b, p, h, int(arch.intermediate_size or 4 * h), arch.num_layers)
    b.add(p + "final_layer_norm.weight", h)
    b.add(p + "final_layer_norm.bias", h)
    return []


def build_vision(b: TensorBuilder, config: dict[str, Any], text: dict[str, Any]) -> None:
    """CLIPModel's vision tower and the two projections into the shared space (+ the logit scale)."""
    from vramcalc.models.tensors import dim

    c = vit_tower(b, "vision_model.", config["vision_config"], "clip")
    proj = dim(config, "projection_dim", 512)
    b.add("visual_projection.weight", proj, c)
    b.add("text_projection.weight", proj, int(text.get("hidden_size") or 512))
    b.add("logit_scale")


FAMILIES = [Family(model_types=("clip", "clip_text_model"), role="clip", mlp="plain", norm="layernorm",
                   positions="learned", builder=build)]
