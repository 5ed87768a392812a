"""Llama 4 (Scout, Maverick) text models from config.json: interleaved MoE layers with a shared expert, fused
expert stacks, chunked attention on rope layers."""

from __future__ import annotations

from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.kv import kv_cache_bytes
from vramcalc.readers.config_json import inventory_from_config

# meta-llama/Llama-4-Scout-17B-16E text_config (size fields); Maverick: 128 experts, MoE every second layer
SCOUT = {
    "architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4",
    "text_config": {"model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
                    "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
                    "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 202048, "num_local_experts": 16,
                    "num_experts_per_tok": 1, "interleave_moe_layer_step": 1, "attention_chunk_size": 8192,
                    "max_position_embeddings": 10485760, "tie_word_embeddings": False},
}
MAVERICK = {**SCOUT, "text_config": {**SCOUT["text_config"], "num_local_experts": 128,
                                     "interleave_moe_layer_step": 2}}
H, INTER, DENSE, V = 5120, 8192, 16384, 202048
ATTN = H * 40 * 128 * 2 + H * 8 * 128 * 2  # q and o, k and v


def _moe(experts: int) -> int:
    return experts * H + experts * (H * 2 * INTER + INTER * H) + 3 * H * INTER  # router, routed experts, shared expert


def test_scout_and_maverick_by_their_layout() -> None:
    common = 48 * (ATTN + 2 * H) + 2 * V * H + H
    scout = inventory_from_config(SCOUT, "x")
    assert scout.total_params == common + 48 * _moe(16) == 107_769_861_120
    maverick = inventory_from_config(MAVERICK, "x")
    assert maverick.total_params == common + 24 * _moe(128) + 24 * 3 * H * DENSE == 400_711_848_960  # "400B"
    # "17B active" for both: attention, the dense MLPs, one routed expert and the shared one, the embeddings
    from vramcalc.architecture_helpers import active_params_of

    for cfg, inv in ((SCOUT, scout), (MAVERICK, maverick)):
        active = active_params_of(architecture_from_config(cfg), inv)
        assert active is not None and round(active / 1e9) == 17


def test_rope_layers_are_chunked_every_fourth_is_global() -> None:
    arch = architecture_from_config(SCOUT)
    kinds = [a.kind for a in arch.layers]
    assert kinds.count("full") == 12 and kinds[3] == "full" and kinds[0] == "chunked"
    assert arch.layers[0].window == 8192
    # at 128k tokens the global layers hold all of them, the chunked ones one window less the token being added
    # (transformers' sliding cache layers keep window − 1)
    per_token = 8 * 128 * 2 * 2  # K and V, 8 heads × 128, bf16
    assert kv_cache_bytes(arch, 131072, 1, "bf16", "transformers") == per_token * (12 * 131072 + 36 * 8191)


def test_gguf_mix_quantizes_every_expert_and_router_stays_f32() -> None:
    from vramcalc.calculator.quantize import plan_format
    from vramcalc.registry import load_registry

    registry = load_registry()
    plan = plan_format(inventory_from_config(SCOUT, "x"), registry.get("Q4_K_M"), registry)
    by = {c.cls: c.types for c in plan.by_class()}
    assert set(by["experts"]) <= {"Q4_K", "Q5_K", "Q6_K"} and set(by["shared_experts"]) <= {"Q4_K", "Q5_K", "Q6_K"}
    assert set(by["router"]) == {"FP32"}  # ffn_gate_inp is never quantized by llama-quantize
