"""Model families as records (vramcalc.models): one fact, one place — every calculator reads the same record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vramcalc.architecture import architecture_from_config
from vramcalc.models import LLAMA_STYLE, families, family_of, known_model_types
from vramcalc.readers.config_json import inventory_from_config

# bigcode/starcoder2-3b config.json (size fields)
STARCODER2_3B = {
    "architectures": ["Starcoder2ForCausalLM"], "model_type": "starcoder2", "hidden_size": 3072,
    "intermediate_size": 12288, "num_hidden_layers": 30, "num_attention_heads": 24, "num_key_value_heads": 2,
    "vocab_size": 49152, "max_position_embeddings": 16384, "sliding_window": 4096, "hidden_act": "gelu_pytorch_tanh",
    "use_bias": True, "torch_dtype": "bfloat16",
}


def test_every_model_type_has_one_family() -> None:
    seen = [mt for fam in families() for mt in fam.model_types]
    assert len(seen) == len(set(seen)) == len(known_model_types())
    assert family_of("no-such-model") is LLAMA_STYLE and LLAMA_STYLE.gated


@pytest.mark.parametrize(("model_type", "fact", "value"), [
    ("gpt2", "mlp", "plain"), ("gpt2", "positions", "learned"), ("gpt2", "tied_default", True),
    ("gemma2", "sliding", "alternate"), ("gemma3_text", "qk_norm", True), ("qwen3_moe", "qk_norm", True),
    ("qwen2_moe", "sliding_mask_always", True), ("deepseek_v3", "kv", "mla"), ("llama4_text", "sliding", "chunked"),
    ("mistral", "llamacpp_arch", "llama"), ("falcon", "llamacpp_arch", "falcon"), ("roberta", "position_offset", True),
    ("t5", "role", "t5"), ("bert", "role", "encoder"), ("phi3", "tokenizer", "spm"), ("opt", "positions", "learned"),
])
def test_family_facts(model_type: str, fact: str, value: object) -> None:
    assert getattr(family_of(model_type), fact) == value


def test_starcoder2_is_one_module_and_its_facts_agree() -> None:
    # StarCoder2 used to be counted Llama-style (a gated MLP, no biases) while the activation model called it
    # ungated and the KV model gave it a sliding window: one record now
    inv = inventory_from_config(STARCODER2_3B, "starcoder2-3b")
    assert inv.total_params == 3_030_371_328  # the published count
    assert not inv.warnings
    names = {t.name for t in inv.tensors}
    assert "model.layers.0.mlp.c_fc.bias" in names and not any("gate_proj" in n for n in names)
    arch = architecture_from_config(STARCODER2_3B)
    assert not arch.family.gated and arch.family.norm == "layernorm"
    assert {a.kind for a in arch.layers} == {"sliding"} and arch.tie_word_embeddings


def test_starcoder2_prices_in_every_default_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.json").write_text(json.dumps(STARCODER2_3B))
    result = run_cli(capsys, "estimate", str(tmp_path), "--json")
    assert result.code == 0 and "not one vramcalc knows" not in result.err
    rows = {r["format"]: r for r in result.json()["rows"]}
    assert rows["bf16"]["weight_bytes"] == 2 * 3_030_371_328
    assert 4.8 < rows["Q4_K_M"]["bits_per_weight"] < 5.3  # c_fc/c_proj are GGUF ffn_up/ffn_down


def test_a_family_built_unlike_llama_brings_its_own_builder() -> None:
    # the shared decoder (models/decoder.py) builds gated MLPs with RMSNorm and rotary positions; a family that
    # differs in any of those and has no builder would be counted as Llama (StarCoder2 and GPT-BigCode once were)
    for fam in families():
        if fam.builder is None:
            assert (fam.role, fam.mlp, fam.positions) == ("decoder", "gated", "rope"), fam.model_types
            assert fam.norm != "layernorm", fam.model_types


# bigcode/starcoderbase-1b config.json (size fields); its model card gives 1.1B parameters
STARCODERBASE_1B = {
    "architectures": ["GPTBigCodeForCausalLM"], "model_type": "gpt_bigcode", "n_embd": 2048, "n_head": 16,
    "n_inner": 8192, "n_layer": 24, "n_positions": 8192, "vocab_size": 49152, "multi_query": True,
}


def test_gpt_bigcode_is_gpt2_with_one_kv_head() -> None:
    # transformers' modeling_gpt_bigcode.py: c_attn is Linear(h, h + 2 × head_dim) under multi_query, biases on every
    # Linear, LayerNorms with biases, learned positions, lm_head tied to wte. Per layer: 2 LayerNorms + c_attn +
    # c_proj + c_fc + mlp.c_proj
    h, inner, head_dim, layers, vocab, positions = 2048, 8192, 128, 24, 49152, 8192
    qkv = h + 2 * head_dim
    layer = 2 * 2 * h + (qkv * h + qkv) + (h * h + h) + (inner * h + inner) + (h * inner + h)
    expected = vocab * h + positions * h + layers * layer + 2 * h
    inv = inventory_from_config(STARCODERBASE_1B, "starcoderbase-1b")
    assert inv.total_params == expected == 1_137_207_296 and not inv.warnings
    assert not any("gate_proj" in t.name or t.name == "lm_head.weight" for t in inv.tensors)
    arch = architecture_from_config(STARCODERBASE_1B)
    assert {(a.num_kv_heads, a.head_dim) for a in arch.layers} == {(1, head_dim)} and arch.tie_word_embeddings
    grouped = architecture_from_config({**STARCODERBASE_1B, "multi_query": False})
    assert grouped.layers[0].num_kv_heads == 16


def test_deepseek_v32_is_v3_with_its_lightning_indexer() -> None:
    # deepseek-ai/DeepSeek-V3.2-Exp config.json: V3's shapes plus index_n_heads 64, index_head_dim 128. Its layers
    # are V3's MLA (it was counted as a grouped-query decoder: 702.6B) plus an indexer each, with the names and
    # shapes the reference inference code's Indexer gives (as LightLLM's NSAIndexerWeight loads them)
    v3 = json.loads((Path(__file__).parents[1] / "examples" / "configs" / "deepseek-v3" / "config.json").read_text())
    v32 = {**v3, "model_type": "deepseek_v32", "architectures": ["DeepseekV32ForCausalLM"], "index_n_heads": 64,
           "index_head_dim": 128, "index_topk": 2048}
    base, inv = inventory_from_config(v3, "v3"), inventory_from_config(v32, "v3.2")
    h, layers, q_rank = v3["hidden_size"], v3["num_hidden_layers"], v3["q_lora_rank"]
    indexer = 64 * 128 * q_rank + 128 * h + 2 * 128 + 64 * h
    assert inv.total_params == base.total_params + layers * indexer == 671_877_944_064
    by_name = {t.name: t for t in inv.tensors}
    p = "model.layers.7.self_attn.indexer."
    assert by_name[p + "wq_b.weight"].dtype == "F8_E4M3" and p + "wq_b.weight_scale_inv" in by_name
    assert by_name[p + "weights_proj.weight"].dtype == "BF16" and p + "weights_proj.weight_scale_inv" not in by_name
    assert architecture_from_config(v32).family.kv == "mla"


def test_glm5_is_built_as_deepseek_v32() -> None:
    # GLM-5 (model_type glm_moe_dsa) runs DeepSeek-V3.2's network (mlx-lm's glm_moe_dsa model is its deepseek_v32
    # model): with the same sizes, the same tensors
    v3 = json.loads((Path(__file__).parents[1] / "examples" / "configs" / "deepseek-v3" / "config.json").read_text())
    sizes = {**v3, "index_n_heads": 32, "index_head_dim": 128, "num_hidden_layers": 4, "first_k_dense_replace": 1}
    v32 = inventory_from_config({**sizes, "model_type": "deepseek_v32"}, "a")
    glm5 = inventory_from_config({**sizes, "model_type": "glm_moe_dsa"}, "b")
    assert [(t.name, t.shape, t.dtype) for t in glm5.tensors] == [(t.name, t.shape, t.dtype) for t in v32.tensors]
    names = {t.name for t in glm5.tensors}
    assert {"model.layers.3.self_attn.indexer.wq_b.weight", "model.layers.3.self_attn.q_a_proj.weight"} <= names
    assert not any(n.endswith("self_attn.k_proj.weight") for n in names)
