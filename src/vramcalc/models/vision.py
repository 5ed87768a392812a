"""Multimodal configs (Gemma 3, PaliGemma, LLaVA): the vision tower from `vision_config` and the projector of
the outer model_type, added after the text model's tensors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.blocks import vit_tower

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


# Vision towers in the ViT layout transformers gives SigLIP and CLIP; the projector per multimodal model_type.
_VIT_TYPES = {"siglip_vision_model": "siglip", "siglip2_vision_model": "siglip", "clip_vision_model": "clip"}


def build_vision(b: TensorBuilder, config: dict[str, Any], text: Architecture) -> list[str]:
    """The image encoder and projector of a multimodal config (Gemma 3, PaliGemma, LLaVA): ViT layers from
    `vision_config`, the projector from the outer model_type. Others are named in a warning, not guessed."""
    vc = config["vision_config"]
    outer = str(config.get("model_type", ""))
    kind = _VIT_TYPES.get(str(vc.get("model_type", "")))
    if kind is None or outer not in ("gemma3", "paligemma", "llava", "llava_next"):
        return [f"{outer or 'this model'}: the vision encoder ({vc.get('model_type', 'unknown')}) is not counted "
                "from config.json — inspect the checkpoint for its exact size"]
    c = vit_tower(b, "vision_tower.vision_model.", vc, kind)
    t = text.hidden_size
    if outer == "gemma3":
        b.add("multi_modal_projector.mm_input_projection_weight", c, t)
        b.add("multi_modal_projector.mm_soft_emb_norm.weight", c)
    elif outer == "paligemma":
        b.add("multi_modal_projector.linear.weight", t, c)
        b.add("multi_modal_projector.linear.bias", t)
    else:  # llava, llava_next: two linear layers with GELU between
        b.add("multi_modal_projector.linear_1.weight", t, c)
        b.add("multi_modal_projector.linear_1.bias", t)
        b.add("multi_modal_projector.linear_2.weight", t, t)
        b.add("multi_modal_projector.linear_2.bias", t)
        if outer == "llava_next":
            b.add("image_newline", t)
    return []
