"""gpt-oss from config.json: biased attention with sinks, fused expert stacks, and the MXFP4 checkpoint layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vramcalc.readers.config_json import inventory_from_config

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "configs" / "gpt-oss-20b"
GPT_OSS_20B = json.loads((CONFIG / "config.json").read_text())  # openai/gpt-oss-20b config.json (size fields)


def _per_layer(experts: int, h: int = 2880, inter: int = 2880, heads: int = 64, kv: int = 8, hd: int = 64) -> int:
    attention = (h * heads * hd + heads * hd) + 2 * (h * kv * hd + kv * hd) + (heads * hd * h + h) + heads  # + sinks
    router = experts * h + experts
    moe = experts * ((h * 2 * inter + 2 * inter) + (inter * h + h))  # gate_up and down, each with its bias
    return attention + 2 * h + router + moe


def test_totals_are_the_published_ones() -> None:
    embeddings = 2 * 201088 * 2880  # embed_tokens and the untied lm_head
    assert inventory_from_config(GPT_OSS_20B, "x").total_params == 24 * _per_layer(32) + embeddings + 2880 \
        == 20_914_757_184  # openai/gpt-oss-20b: 20.91B
    big = {**GPT_OSS_20B, "num_hidden_layers": 36, "num_local_experts": 128,
           "layer_types": ["sliding_attention", "full_attention"] * 18}
    assert inventory_from_config(big, "x").total_params == 36 * _per_layer(128) + embeddings + 2880 \
        == 116_829_156_672  # openai/gpt-oss-120b: 116.83B


def test_the_checkpoint_stores_experts_in_mxfp4() -> None:
    inv = inventory_from_config(GPT_OSS_20B, "x")
    assert inv.quantization is not None and inv.quantization.scheme == "mxfp4"
    experts = 24 * 32 * (2880 * 5760 + 2880 * 2880)
    # 4.25 bits per expert weight (16 bytes of FP4 + 1 scale byte per 32), everything else bf16
    assert inv.total_bytes == experts * 17 // 32 + 2 * (inv.total_params - experts) == 13_761_264_768  # ≈ 13.8 GB


def test_rows_dequantize_the_experts_first(capsys: pytest.CaptureFixture[str]) -> None:
    rows = {r["format"]: r for r in run_cli(capsys, "estimate", str(CONFIG), "-d", "bf16", "-d", "MXFP4_MOE",
                                            "--json").json()["rows"]}
    assert rows["bf16"]["weight_bytes"] == 2 * 20_914_757_184 and rows["bf16"]["params"] == 20_914_757_184
    experts = {b["tensor_class"]: b["types"] for b in rows["MXFP4_MOE"]["breakdown"]}["experts"]
    assert experts["MXFP4"] == 24 * 32 * (2880 * 5760 + 2880 * 2880)  # llama.cpp's MXFP4_MOE: experts MXFP4
