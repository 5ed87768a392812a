"""Multimodal configs: the vision tower and projector counted from config.json, kept out of a text GGUF."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from vramcalc.components import classify
from vramcalc.readers.config_json import inventory_from_config

# google/gemma-3-4b-it config.json (size fields)
GEMMA3_4B = {
    "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "torch_dtype": "bfloat16",
    "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
                    "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                    "vocab_size": 262208, "sliding_window": 1024, "max_position_embeddings": 131072},
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304,
                      "num_hidden_layers": 27, "num_attention_heads": 16, "patch_size": 14, "image_size": 896},
}
# llava-hf/llava-1.5-7b-hf config.json (size fields): Llama-2-7B with 32,064 tokens + CLIP ViT-L/14 at 336 px
LLAVA_15_7B = {
    "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "torch_dtype": "float16",
    "text_config": {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                    "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
                    "max_position_embeddings": 4096, "tie_word_embeddings": False},
    "vision_config": {"model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
                      "num_hidden_layers": 24, "num_attention_heads": 16, "patch_size": 14, "image_size": 336},
}


def _by_class(cfg: dict) -> Counter[str]:
    c: Counter[str] = Counter()
    for t in inventory_from_config(cfg, "x").tensors:
        c[classify(t.name)] += t.numel
    return c


def test_gemma3_4b_with_its_siglip_tower_is_the_published_total() -> None:
    c = _by_class(GEMMA3_4B)
    # SigLIP-so400m at 896 px: patch conv + 4,096 positions + 27 × (attention, 2 LayerNorms, fc1, fc2) + final LN
    layer = 4 * (1152 * 1152 + 1152) + 4 * 1152 + (1152 * 4304 + 4304) + (4304 * 1152 + 1152)
    assert c["vision"] == 1152 * 3 * 14 * 14 + 1152 + 4096 * 1152 + 27 * layer + 2 * 1152 == 416_866_032
    assert c["projector"] == 1152 * 2560 + 1152  # mm_input_projection_weight + mm_soft_emb_norm
    assert sum(c.values()) == 4_300_079_472  # google/gemma-3-4b-it: 4.3B (3,880,263,168 of them the text model)


def test_llava_15_7b_is_the_published_total() -> None:
    c = _by_class(LLAVA_15_7B)
    assert c["projector"] == (1024 * 4096 + 4096) + (4096 * 4096 + 4096)
    assert sum(c.values()) == 7_063_427_072  # llava-hf/llava-1.5-7b-hf


def test_an_unknown_vision_encoder_is_named_not_guessed() -> None:
    cfg = {**LLAVA_15_7B, "model_type": "qwen2_vl", "vision_config": {"model_type": "qwen2_vl", "depth": 32}}
    inv = inventory_from_config(cfg, "x")
    assert any("vision encoder (qwen2_vl) is not counted" in w for w in inv.warnings)
    assert not any(classify(t.name) == "vision" for t in inv.tensors)


def test_a_text_gguf_leaves_the_vision_tower_to_mmproj() -> None:
    from vramcalc.calculator.quantize import plan_format
    from vramcalc.registry import load_registry

    registry = load_registry()
    inv = inventory_from_config(GEMMA3_4B, "x")
    plan = plan_format(inv, registry.get("Q4_K_M"), registry)
    assert {p.cls for p in plan.tensors}.isdisjoint({"vision", "projector"})
    assert plan.params == 3_880_263_168


def test_estimate_says_where_the_vision_tower_went(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.cli_helpers import run_cli

    (tmp_path / "config.json").write_text(json.dumps(GEMMA3_4B))
    rows = {r["format"]: r for r in run_cli(capsys, "estimate", str(tmp_path), "-d", "bf16", "-d", "Q4_K_M",
                                            "--json").json()["rows"]}
    assert rows["bf16"]["params"] == 4_300_079_472 and rows["Q4_K_M"]["params"] == 3_880_263_168
    assert any("mmproj" in k for k in rows["Q4_K_M"]["kept"]) and not any("mmproj" in k for k in rows["bf16"]["kept"])


def test_every_default_row_prices_a_multimodal_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Q8_0 has no fallback for the 14-wide patch embedding: the GGUF rules must never see the vision tower
    import json

    from tests.cli_helpers import run_cli

    (tmp_path / "config.json").write_text(json.dumps(GEMMA3_4B))
    r = run_cli(capsys, "estimate", str(tmp_path), "--json")
    assert r.code == 0, r.err
    assert {"Q8_0", "Q4_K_M", "bf16"} <= {row["format"] for row in r.json()["rows"]}
