"""GLM-4.5 (glm4_moe) from config.json: q/k/v biases without an o_proj bias, a biased router, dense first layers,
one shared expert, the MTP layer left out (and said so)."""

from __future__ import annotations

from vramcalc.readers.config_json import inventory_from_config

# zai-org/GLM-4.5-Air config.json (size fields)
GLM45_AIR = {"architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe", "hidden_size": 4096,
             "num_hidden_layers": 46, "num_attention_heads": 96, "num_key_value_heads": 8, "head_dim": 128,
             "intermediate_size": 10944, "moe_intermediate_size": 1408, "n_routed_experts": 128,
             "n_shared_experts": 1, "first_k_dense_replace": 1, "num_experts_per_tok": 8, "vocab_size": 151552,
             "attention_bias": True, "use_qk_norm": False, "num_nextn_predict_layers": 1,
             "tie_word_embeddings": False, "max_position_embeddings": 131072}


def test_glm45_air_by_its_layout() -> None:
    h = 4096
    attention = (h * 96 * 128 + 96 * 128) + 2 * (h * 8 * 128 + 8 * 128) + 96 * 128 * h  # o_proj: no bias
    moe = 128 * h + 128 + 128 * 3 * h * 1408 + 3 * h * 1408  # router + its correction bias, experts, shared
    dense = 3 * h * 10944
    total = 46 * (attention + 2 * h) + dense + 45 * moe + 2 * 151552 * h + h
    inv = inventory_from_config(GLM45_AIR, "x")
    assert inv.total_params == total == 106_852_251_264  # "106B total parameters" (model card)
    assert not any(t.name.endswith("o_proj.bias") for t in inv.tensors)
    assert any("multi-token-prediction" in w for w in inv.warnings)
