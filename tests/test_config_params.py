"""Exact parameter counts from config.json alone, against real measurements and published totals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramcalc.architecture import architecture_from_config, architecture_from_gguf
from vramcalc.errors import ArchitectureError
from vramcalc.readers.config_json import active_params, inventory_from_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "configs"

# Configs and `params` (sum of model.parameters() of the model transformers 5.17 built from that config on an
# H100) from the team's GPU measurements: tests/data/measurements/measure.py (MODELS) and h100-transformers.jsonl.
MEASURED = {
    "gpt2": (dict(model_type="gpt2", vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024),
             124_439_808),
    "SmolLM2-135M": (dict(model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536,
                          num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                          tie_word_embeddings=True, max_position_embeddings=8192), 134_515_008),
    "Llama-3.2-1B": (dict(model_type="llama", vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                          num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                          tie_word_embeddings=True, max_position_embeddings=131072), 1_235_814_400),
    "Qwen2.5-7B": (dict(model_type="qwen2", vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                        num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                        tie_word_embeddings=False, max_position_embeddings=131072), 7_615_616_512),
    "Qwen1.5-MoE-A2.7B": (dict(model_type="qwen2_moe", vocab_size=151936, hidden_size=2048,
                               intermediate_size=5632, num_hidden_layers=24, num_attention_heads=16,
                               num_key_value_heads=16, num_experts=60, num_experts_per_tok=4,
                               moe_intermediate_size=1408, shared_expert_intermediate_size=5632,
                               tie_word_embeddings=False, max_position_embeddings=8192), 14_315_784_192),
}


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_matches_measured_model(name: str) -> None:
    config, params = MEASURED[name]
    assert inventory_from_config(config, name).total_params == params


# Published totals (model cards / announcements; see examples/configs/README.md), exact where the
# config determines them.
PUBLISHED = {
    "llama-3.1-8b": 8_030_261_248,
    "qwen2.5-7b": 7_615_616_512,
    "mixtral-8x7b": 46_702_792_704,
    "gemma-2-9b": 9_241_705_984,
    "qwen3-30b-a3b": 30_532_122_624,
    "deepseek-v3": 671_026_419_200,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_example_configs_match_published(name: str) -> None:
    config = json.loads((EXAMPLES / name / "config.json").read_text())
    assert inventory_from_config(config, name).total_params == PUBLISHED[name]


def test_moe_active_params() -> None:
    def active(name: str) -> int:
        config = json.loads((EXAMPLES / name / "config.json").read_text())
        return active_params(architecture_from_config(config), inventory_from_config(config, name))

    assert round(active("mixtral-8x7b") / 1e9, 1) == 12.9  # "12.9B active" (Mistral AI)
    assert round(active("qwen3-30b-a3b") / 1e9, 1) == 3.4  # model card: 3.3B activated (non-embedding 3.3B)
    assert round(active("deepseek-v3") / 1e9) == 38  # model card: 37B activated (+ embeddings/head)


def test_attention_kinds() -> None:
    gemma2 = architecture_from_config(json.loads((EXAMPLES / "gemma-2-9b/config.json").read_text()))
    assert [a.kind for a in gemma2.layers[:4]] == ["sliding", "full", "sliding", "full"]
    assert gemma2.layers[0].window == 4096 and gemma2.layers[1].window is None
    g3 = architecture_from_config({
        "model_type": "gemma3", "text_config": {
            "model_type": "gemma3_text", "hidden_size": 2560, "num_hidden_layers": 34, "num_attention_heads": 8,
            "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262208, "intermediate_size": 10240,
            "sliding_window": 1024, "sliding_window_pattern": 6}})
    kinds = [a.kind for a in g3.layers]
    assert kinds.count("full") == 5 and kinds[5] == "full" and kinds[0] == "sliding"
    ds = architecture_from_config(json.loads((EXAMPLES / "deepseek-v3/config.json").read_text()))
    assert ds.is_mla and ds.layers[0].kv_lora_rank == 512 and ds.layers[0].qk_rope_head_dim == 64
    mistral = architecture_from_config({**MEASURED["SmolLM2-135M"][0], "model_type": "mistral",
                                        "sliding_window": 4096})
    assert all(a.kind == "sliding" and a.window == 4096 for a in mistral.layers)


def test_missing_fields_are_named() -> None:
    with pytest.raises(ArchitectureError) as e:
        architecture_from_config({"model_type": "mystery", "hidden_size": 64})
    assert str(e.value) == (
        "config.json (model_type 'mystery') has no num_hidden_layers, num_attention_heads, vocab_size — "
        "give a config.json with these fields or pass --layers, --heads, --vocab-size"
    )


def test_gguf_metadata() -> None:
    arch = architecture_from_gguf({
        "general.architecture": "llama", "llama.block_count": 16, "llama.embedding_length": 2048,
        "llama.attention.head_count": 32, "llama.attention.head_count_kv": 8, "llama.context_length": 131072,
        "llama.feed_forward_length": 8192, "tokenizer.ggml.tokens": {"type": "array", "len": 128256},
    })
    assert (arch.num_layers, arch.vocab_size, arch.layers[0].head_dim, arch.layers[0].num_kv_heads) == (
        16, 128256, 64, 8)


@settings(max_examples=30, deadline=None)
@given(layers=st.integers(1, 6), hidden=st.sampled_from([64, 128]), kv=st.sampled_from([1, 2, 4]))
def test_one_more_layer_adds_one_layer(layers: int, hidden: int, kv: int) -> None:
    base = dict(model_type="llama", vocab_size=1000, hidden_size=hidden, intermediate_size=3 * hidden,
                num_attention_heads=4, num_key_value_heads=kv)
    a = inventory_from_config({**base, "num_hidden_layers": layers}, "a").total_params
    b = inventory_from_config({**base, "num_hidden_layers": layers + 1}, "b").total_params
    head_dim = hidden // 4
    per_layer = 2 * hidden + 2 * hidden * 4 * head_dim + 2 * hidden * kv * head_dim + 3 * hidden * 3 * hidden
    assert b - a == per_layer


def test_fp8_config_is_stored_and_repriced_as_fp8() -> None:
    from vramcalc.estimate_report import EstimateRequest, estimate_inventory
    from vramcalc.registry import load_registry

    config = json.loads((EXAMPLES / "deepseek-v3/config.json").read_text())
    config.update(num_hidden_layers=4, n_routed_experts=8, first_k_dense_replace=1)  # keep the test fast
    inv = inventory_from_config(config, "ds")
    assert inv.quantization is not None and inv.quantization.scheme == "fp8-block"
    assert inv.total_params < inv.stored_elements  # block scales are bytes, not parameters
    report = estimate_inventory(inv, EstimateRequest(formats=["bf16"]), load_registry())
    assert report.rows[0].weight_bytes == 2 * inv.total_params  # re-encoding drops the fp8 scales


def test_a_yarn_section_extends_the_maximum_context() -> None:
    from vramcalc.architecture import architecture_from_config

    # Qwen2.5-7B-Instruct's model card: add rope_scaling {type: yarn, factor: 4, original_max_position_embeddings:
    # 32768} to reach 131,072 tokens; max_position_embeddings stays 32,768
    cfg = {"model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064,
           "max_position_embeddings": 32768}
    assert architecture_from_config(cfg).max_context == 32768
    yarn = {**cfg, "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}
    assert architecture_from_config(yarn).max_context == 131072
    # Llama 3.1 states the extended length already: its llama3 scaling does not multiply it again
    llama31 = {**cfg, "max_position_embeddings": 131072,
               "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192}}
    assert architecture_from_config(llama31).max_context == 131072
