"""T5 from config.json: the encoder-decoder, and the encoder alone as diffusion pipelines use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vramcalc.architecture import architecture_from_config
from vramcalc.components import classify
from vramcalc.readers.config_json import inventory_from_config

# google-t5/t5-base config.json; FLUX.1-dev text_encoder_2/config.json (T5-XXL v1.1 encoder)
T5_BASE = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": 768, "d_kv": 64,
           "num_heads": 12, "d_ff": 3072, "num_layers": 12, "vocab_size": 32128, "feed_forward_proj": "relu",
           "relative_attention_num_buckets": 32}
T5_XXL_ENCODER = {"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": 4096, "d_kv": 64,
                  "num_heads": 64, "d_ff": 10240, "num_layers": 24, "vocab_size": 32128,
                  "feed_forward_proj": "gated-gelu", "relative_attention_num_buckets": 32,
                  "tie_word_embeddings": False}


def test_t5_base_is_the_familiar_total() -> None:
    inv = inventory_from_config(T5_BASE, "x")
    assert inv.total_params == 222_903_552  # t5-base (tied LM head)
    assert {classify(t.name) for t in inv.tensors} == {"embeddings", "attention", "mlp", "norms"}


def test_the_t5_xxl_encoder_is_fluxs_text_encoder_2() -> None:
    # the same count tests/test_diffusion.py takes from the FLUX.1-dev repo's text_encoder_2 weights
    assert inventory_from_config(T5_XXL_ENCODER, "x").total_params == 4_762_310_656
    arch = architecture_from_config(T5_XXL_ENCODER)
    assert arch.is_encoder and arch.layers[0].head_dim == 64


def test_encoder_decoder_caches_the_decoders_self_attention(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    import json

    (tmp_path / "config.json").write_text(json.dumps(T5_BASE))
    data = run_cli(capsys, "estimate", str(tmp_path), "-d", "fp32", "-c", "512", "--json").json()
    assert data["rows"][0]["kv_cache_bytes"] == 12 * 2 * 12 * 64 * 512 * 4  # layers × K,V × heads × d_kv × tokens
    assert any("cross-attention" in n for n in data["notes"])
