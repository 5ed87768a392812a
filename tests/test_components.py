"""Tensor classes from names: the rules, and the shortcut that looks each name pattern up once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vramcalc.components import _classify_pattern, classify, is_linear_weight
from vramcalc.readers.config_json import inventory_from_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*/config.json"))


@pytest.mark.parametrize(("name", "cls"), [
    ("model.embed_tokens.weight", "embeddings"),
    ("model.layers.0.self_attn.q_proj.weight", "attention"),
    ("model.layers.12.mlp.down_proj.weight", "mlp"),
    ("model.layers.3.mlp.experts.17.gate_proj.weight", "experts"),
    ("model.layers.3.mlp.shared_experts.up_proj.weight", "shared_experts"),
    ("model.layers.3.mlp.gate.weight", "router"),
    ("model.layers.3.input_layernorm.weight", "norms"),
    ("lm_head.weight", "lm_head"),
    ("blk.7.ffn_down_exps.weight", "experts"),
    ("blk.7.attn_k.weight", "attention"),
    ("token_embd.weight", "embeddings"),
    ("output.weight", "lm_head"),
    ("transformer.h.11.mlp.c_fc.weight", "mlp"),
    ("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", "vision"),
])
def test_rules(name: str, cls: str) -> None:
    assert classify(name) == cls


def test_layer_and_expert_indices_never_change_the_class() -> None:
    # every tensor of every bundled config (DeepSeek-V3's 45k included), and GGUF-style names with numbers inside
    names = [t.name for p in CONFIGS for t in inventory_from_config(json.loads(p.read_text()), str(p)).tensors]
    names += ["blk.0.ffn_gate_inp.weight", "h.3.ln_1.weight", "transformer.h.3.ln_f.weight", "model.w1.weight",
              "encoder.block.5.layer.1.DenseReluDense.wi_0.weight", "v.blk.2.attn_q.weight"]
    assert len(names) > 40_000
    assert all(classify(n) == _classify_pattern(n) for n in names)


def test_linear_weights() -> None:
    assert is_linear_weight("model.layers.0.mlp.up_proj.weight", (14336, 4096))
    assert not is_linear_weight("model.layers.0.mlp.up_proj.bias", (14336,))
    assert not is_linear_weight("model.norm.weight", (4096,))
    assert not is_linear_weight("model.embed_tokens.weight", (128256, 4096))
