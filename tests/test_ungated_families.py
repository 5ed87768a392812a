"""Decoders with a plain (ungated) MLP and LayerNorm biases — GPT-NeoX/Pythia, Phi-2, Falcon, OPT, BLOOM — from
config.json: exact counts, KV heads (Falcon-7B shares one), tensor classes and GGUF names."""

from __future__ import annotations

import pytest

from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.gguf_names import gguf_name
from vramcalc.components import classify
from vramcalc.readers.config_json import inventory_from_config

# config.json size fields of EleutherAI/pythia-160m, pythia-6.9b, microsoft/phi-2, tiiuae/falcon-7b, falcon-40b
PYTHIA_160M = {"model_type": "gpt_neox", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
               "intermediate_size": 3072, "vocab_size": 50304, "max_position_embeddings": 2048,
               "tie_word_embeddings": False}
PYTHIA_6_9B = {**PYTHIA_160M, "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
               "intermediate_size": 16384, "vocab_size": 50432}
PHI_2 = {"model_type": "phi", "hidden_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 32,
         "intermediate_size": 10240, "vocab_size": 51200, "max_position_embeddings": 2048}
FALCON_7B = {"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
             "vocab_size": 65024, "multi_query": True, "parallel_attn": True, "bias": False,
             "new_decoder_architecture": False}
OPT_125M = {"model_type": "opt", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
            "ffn_dim": 3072, "vocab_size": 50272, "max_position_embeddings": 2048, "word_embed_proj_dim": 768}
BLOOM_560M = {"model_type": "bloom", "hidden_size": 1024, "n_layer": 24, "n_head": 16, "vocab_size": 250880}
FALCON_40B = {"model_type": "falcon", "hidden_size": 8192, "num_hidden_layers": 60, "num_attention_heads": 128,
              "num_kv_heads": 8, "vocab_size": 65024, "new_decoder_architecture": True, "bias": False,
              "parallel_attn": True}


def _neox_layer(h: int, inter: int) -> int:
    return 2 * 2 * h + (3 * h * h + 3 * h) + (h * h + h) + (h * inter + inter) + (inter * h + h)


@pytest.mark.parametrize(("cfg", "published"), [
    (PYTHIA_160M, 162_322_944),  # the Pythia suite's "total params" column
    (PYTHIA_6_9B, 6_857_302_016),
    (PHI_2, 2_779_683_840),
    (FALCON_7B, 6_921_720_704),
    (FALCON_40B, 41_303_293_952),
    (OPT_125M, 125_239_296),  # facebook/opt-125m
    (BLOOM_560M, 559_214_592),  # bigscience/bloom-560m
])
def test_published_totals(cfg: dict, published: int) -> None:
    assert inventory_from_config(cfg, "x").total_params == published


def test_pythia_by_its_layout() -> None:
    h, v = 768, 50304
    assert inventory_from_config(PYTHIA_160M, "x").total_params == 2 * v * h + 12 * _neox_layer(h, 3072) + 2 * h


def test_falcon_kv_heads() -> None:
    seven, forty = architecture_from_config(FALCON_7B), architecture_from_config(FALCON_40B)
    assert (seven.layers[0].num_kv_heads, seven.layers[0].head_dim) == (1, 64)  # multi-query
    assert forty.layers[0].num_kv_heads == 8 and seven.tie_word_embeddings


@pytest.mark.parametrize("cfg", [PYTHIA_160M, PHI_2, FALCON_7B, FALCON_40B, BLOOM_560M])
def test_every_tensor_has_a_class_and_a_gguf_name(cfg: dict) -> None:
    for t in inventory_from_config(cfg, "x").tensors:
        assert classify(t.name) != "other", t.name
        assert gguf_name(t.name, cfg["model_type"]) is not None, t.name
