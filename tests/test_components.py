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
    assert all(classify(n) == _classify_pattern(n, False) for n in names)
    assert all(classify(n, 2) == _classify_pattern(n, True) for n in names)


@pytest.mark.parametrize(("name", "shape", "cls"), [
    # FLUX's AdaLN modulation: 2-D Linear weights under a "norm" name (3.25B parameters of FLUX.1-dev)
    ("transformer_blocks.0.norm1.linear.weight", (18432, 3072), "modulation"),
    ("transformer_blocks.0.norm1_context.linear.weight", (18432, 3072), "modulation"),
    ("single_transformer_blocks.3.norm.linear.weight", (9216, 3072), "modulation"),
    ("norm_out.linear.weight", (6144, 3072), "modulation"),
    ("blocks.0.adaLN_modulation.1.weight", (6912, 1152), "modulation"),
    ("transformer_blocks.0.norm1.linear.bias", (18432,), "modulation"),
    # 1-D scales under a norm name are norms; a 2-D tensor under one is not
    ("transformer_blocks.0.attn.norm_q.weight", (128,), "norms"),
    ("model.layers.0.input_layernorm.weight", (4096,), "norms"),
    ("encoder.layernorm_proj.weight", (1024, 1024), "other"),
    ("transformer_blocks.0.ff.net.0.proj.weight", (12288, 3072), "mlp"),
    ("transformer_blocks.0.ff_context.net.2.weight", (3072, 12288), "mlp"),
])
def test_a_tensor_class_follows_what_the_tensor_is(name: str, shape: tuple[int, ...], cls: str) -> None:
    assert classify(name, len(shape)) == cls


def test_modulation_weights_are_quantized_norm_scales_are_not() -> None:
    assert is_linear_weight("transformer_blocks.0.norm1.linear.weight", (18432, 3072))
    assert not is_linear_weight("transformer_blocks.0.attn.norm_q.weight", (128,))


def test_linear_weights() -> None:
    assert is_linear_weight("model.layers.0.mlp.up_proj.weight", (14336, 4096))
    assert not is_linear_weight("model.layers.0.mlp.up_proj.bias", (14336,))
    assert not is_linear_weight("model.norm.weight", (4096,))
    assert not is_linear_weight("model.embed_tokens.weight", (128256, 4096))
