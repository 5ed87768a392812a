"""Whatever a config.json or a GGUF's metadata claims, the result is an inventory or a VramcalcError that names the
field — never a crash, and never an allocation the claim alone dictates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vramcalc.architecture import architecture_from_gguf
from vramcalc.errors import VramcalcError
from vramcalc.readers.config_json import inventory_from_config

BASE = json.loads((Path(__file__).resolve().parents[1] / "examples" / "configs" / "llama-3.1-8b" /
                   "config.json").read_text())
KEYS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
        "intermediate_size", "vocab_size", "max_position_embeddings", "num_local_experts", "num_experts_per_tok",
        "sliding_window", "model_type", "torch_dtype", "quantization_config", "text_config", "vision_config",
        "layer_types", "tie_word_embeddings", "first_k_dense_replace"]
ODD = st.one_of(
    st.integers(min_value=-3, max_value=10**13), st.text(max_size=8), st.none(), st.booleans(),
    st.floats(allow_nan=True), st.lists(st.integers(-2, 5), max_size=3),
    st.sampled_from(["bert", "gpt_oss", "falcon", "llama4_text", "glm4_moe", "opt", "bloom", "phi", "gpt_neox",
                     "deepseek_v3", "gemma3"]),
    st.sampled_from([{"quant_method": "fp8"}, {"quant_method": "mxfp4"}, {"model_type": "siglip_vision_model"},
                     {"hidden_size": 0}, {}]),
)
SECTIONS = [  # quantization_config / vision_config contents that once reached arithmetic unchecked
    ("quantization_config", {"quant_method": "fp8", "weight_block_size": [0, 0]}),
    ("quantization_config", {"quant_method": "fp8", "weight_block_size": "x"}),
    ("quantization_config", {"quant_method": "fp8", "modules_to_not_convert": 3}),
    ("quantization_config", {"quant_method": "fp8", "modules_to_not_convert": [1, None, "lm_head"]}),
    ("quantization_config", {"quant_method": "gptq", "bits": "four", "group_size": True}),
    ("vision_config", {"model_type": "clip_vision_model", "patch_size": 0}),
    ("vision_config", {"model_type": "siglip_vision_model", "image_size": "big"}),
]


@pytest.mark.parametrize(("key", "section"), SECTIONS)
def test_malformed_sections(key: str, section: dict[str, Any]) -> None:
    cfg = {**BASE, key: section, **({"model_type": "llava"} if key == "vision_config" else {})}
    try:
        inventory_from_config(cfg, "fuzz")
    except VramcalcError as e:
        assert e.what and e.todo


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), ODD, min_size=1, max_size=3))
def test_config_json_mutations(changes: dict[str, Any]) -> None:
    cfg = {**BASE, **changes}
    try:
        inv = inventory_from_config(cfg, "fuzz")
    except VramcalcError as e:
        assert e.what and e.todo
        return
    assert len(inv.tensors) < 5_000_000 and inv.total_params >= 0


GGUF_BASE: dict[str, Any] = {
    "general.architecture": "llama", "llama.block_count": 2, "llama.embedding_length": 64,
    "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2, "llama.context_length": 4096,
    "llama.expert_count": 4, "llama.attention.key_length": 16, "llama.attention.sliding_window": 128,
}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(GGUF_BASE)), ODD, min_size=1, max_size=3))
def test_gguf_metadata_mutations(changes: dict[str, Any]) -> None:
    try:
        arch = architecture_from_gguf({**GGUF_BASE, **changes})
    except VramcalcError as e:
        assert e.what and e.todo
        return
    assert len(arch.layers) == arch.num_layers <= 10_000


def test_an_mla_model_type_without_its_latent_width() -> None:
    # found by the fuzz test above: model_type deepseek_v3 on a config with no kv_lora_rank was a KeyError
    try:
        inventory_from_config({**BASE, "model_type": "deepseek_v3"}, "fuzz")
    except VramcalcError as e:
        assert "kv_lora_rank" in e.what
    else:
        raise AssertionError("accepted an MLA config without kv_lora_rank")


def test_layers_times_experts_is_bounded() -> None:
    # each count is in range, their product (4.8M experts) is not: an error, not a MemoryError (found by this fuzz)
    with pytest.raises(VramcalcError, match="2,192 layers × 2,192 experts"):
        inventory_from_config({**BASE, "num_hidden_layers": 2192, "num_local_experts": 2192}, "fuzz")
