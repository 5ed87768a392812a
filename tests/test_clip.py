"""CLIP from config.json: the text encoder of Stable Diffusion and FLUX, and the whole CLIPModel."""

from __future__ import annotations

from vramcalc.architecture import architecture_from_config
from vramcalc.readers.config_json import inventory_from_config

TEXT_L = {"model_type": "clip_text_model", "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
          "num_attention_heads": 12, "vocab_size": 49408, "max_position_embeddings": 77}


def test_flux_text_encoder() -> None:
    # FLUX.1-dev text_encoder/config.json: CLIPTextModel (ViT-L/14's text tower); tests/test_diffusion.py reads the
    # same 123,060,480 from the repo's weights
    cfg = {"architectures": ["CLIPTextModel"], **TEXT_L}
    assert inventory_from_config(cfg, "x").total_params == 123_060_480
    arch = architecture_from_config(cfg)
    assert arch.is_encoder and arch.max_context == 77  # one pass over 77 tokens, nothing cached


def test_sdxl_text_encoder_2_with_its_projection() -> None:
    # stabilityai/stable-diffusion-xl-base-1.0 text_encoder_2/config.json (OpenCLIP bigG text tower)
    cfg = {**TEXT_L, "architectures": ["CLIPTextModelWithProjection"], "hidden_size": 1280,
           "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 20, "projection_dim": 1280}
    assert inventory_from_config(cfg, "x").total_params == 694_659_840


def test_clip_vit_large_patch14() -> None:
    # openai/clip-vit-large-patch14 config.json: both towers, the projections and the logit scale
    cfg = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 768, "text_config": TEXT_L,
           "vision_config": {"model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
                             "num_hidden_layers": 24, "num_attention_heads": 16, "patch_size": 14,
                             "image_size": 224}}
    assert inventory_from_config(cfg, "x").total_params == 427_616_513
