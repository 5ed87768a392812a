"""Issue 13 items 9, 12, 13, 15: values typed on the command line or written in a config.json that are absurd,
malformed or built to be slow — each a one-line error (or the right number), fast, never an internal error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vramcalc.errors import UsageError
from vramcalc.units import parse_context, parse_count, parse_label, parse_resolution, parse_size

# --------------------------------------------------------------------------- item 12: no quadratic regexes


@pytest.mark.parametrize("parse", [parse_count, parse_size, parse_context, parse_resolution, parse_label])
@pytest.mark.parametrize("text", ["1" + " " * 100_000 + "x", " " * 100_000 + "1x", "1" * 100_000 + "x",
                                  "1-" + " " * 100_000 + "a1"])
def test_long_values_are_rejected_at_once(parse: object, text: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(UsageError) as e:
        parse(text)  # type: ignore[operator]
    assert time.perf_counter() - t0 < 0.05
    assert len(str(e.value)) < 300  # the value is not echoed whole


@pytest.mark.parametrize("option", ["--gpu-memory", "--context", "--resolution"])
def test_long_flag_values_are_rejected_at_once(capsys: pytest.CaptureFixture[str], option: str) -> None:
    t0 = time.perf_counter()
    r = run_cli(capsys, "estimate", "7B", option, "1" + " " * 100_000 + "x")
    assert r.code == 2 and r.err.startswith("Error: ") and len(r.err) < 400
    assert time.perf_counter() - t0 < 2


# --------------------------------------------------------------------------- item 14, 15: counts and sizes


@pytest.mark.parametrize(("text", "message"), [
    ("0.4", "less than one parameter"), ("1e-400B", "less than one parameter"),
    ("1e999999B", "cannot read"), ("999999999x7B", "more than any model has"),
    ("60000x999999999999", "beyond any model"), ("1e17", "beyond any model"),
])
def test_counts_that_are_no_model(capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    r = run_cli(capsys, "estimate", text)
    assert r.code == 2 and message in r.err and "internal error" not in r.err, r.err


def test_the_cap_holds_for_the_product() -> None:
    assert parse_label("8x7B").total_params == 56 * 10**9
    with pytest.raises(UsageError, match="beyond any model"):
        parse_label("65536x999T")


@pytest.mark.parametrize(("text", "ok"), [("1,024GiB", 1024 * 2**30), ("24GB", 24 * 10**9), ("1,2,3GB", None),
                                          ("12,34GB", None), ("0.1B", None), ("9" * 40 + "TB", None)])
def test_sizes_read_as_written(text: str, ok: int | None) -> None:
    if ok is None:
        with pytest.raises(UsageError):
            parse_size(text)
    else:
        assert parse_size(text) == ok


@pytest.mark.parametrize("text", ["9" * 60, "2M" * 1, "1,0,0"])
def test_contexts_are_bounded(text: str) -> None:
    if text == "2M":
        assert parse_context(text) == 2 * 1024**2
        return
    with pytest.raises(UsageError):
        parse_context(text)


@pytest.mark.parametrize("text", ["9" * 5000, "99999999x8", "100000"])
def test_resolutions_are_bounded(text: str) -> None:
    with pytest.raises(UsageError):
        parse_resolution(text)


# --------------------------------------------------------------------------- item 9: bounded builds


def test_layers_flag_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.perf_counter()
    r = run_cli(capsys, "estimate", "7B", "--layers", "10000000", "--kv-heads", "8", "--head-dim", "128")
    assert r.code == 2 and "--layers" in r.err and time.perf_counter() - t0 < 2


def _config(tmp_path: Path, **fields: object) -> Path:
    base: dict[str, object] = {"model_type": "llama", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
                               "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**base, **fields}))
    return path


def test_t5_decoder_layers_are_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, model_type="t5", d_model=64, d_ff=128, d_kv=8, num_heads=8, num_layers=2,
                   num_decoder_layers=10**12)
    t0 = time.perf_counter()
    r = run_cli(capsys, "inspect", str(path))
    assert r.code == 1 and "'num_decoder_layers'" in r.err and "beyond any real model" in r.err
    assert time.perf_counter() - t0 < 2


# --------------------------------------------------------------------------- item 13, 15: config values


@pytest.mark.parametrize(("fields", "message"), [
    ({"num_labels": "two", "model_type": "bert", "architectures": ["BertForSequenceClassification"]}, "'num_labels'"),
    ({"num_labels": 1e30, "model_type": "bert", "architectures": ["BertForSequenceClassification"]}, "'num_labels'"),
    ({"model_type": "gemma3_text", "sliding_window": 512, "sliding_window_pattern": "six"},
     "'sliding_window_pattern'"),
    ({"model_type": "qwen2", "use_sliding_window": True, "sliding_window": 512, "max_window_layers": "x"},
     "'max_window_layers'"),
    ({"model_type": "qwen2_moe", "num_experts": 4, "moe_intermediate_size": 32, "decoder_sparse_step": "2"},
     "'decoder_sparse_step'"),
    ({"model_type": "qwen2_moe", "num_experts": 4, "moe_intermediate_size": 32, "mlp_only_layers": 3},
     "'mlp_only_layers'"),
    ({"num_experts": 4, "moe_topk": "two"}, "'moe_topk'"),
    ({"model_type": "llama4_text", "attention_chunk_size": 64, "no_rope_layers": 1, "num_local_experts": 2},
     "'no_rope_layers'"),
    ({"model_type": "gemma3", "vision_config": {"model_type": "siglip_vision_model", "num_channels": "3"}},
     "'num_channels'"),
    ({"rope_scaling": {"factor": 1e308, "original_max_position_embeddings": 4096}, "max_position_embeddings": 4096},
     "rope_scaling.factor"),
    ({"hidden_size": int("9" * 4000)}, "'hidden_size'"),
    ({"architectures": 1}, "'architectures'"),  # found by tests/test_fuzz_parsers.py (was a TypeError)
    ({"model_type": "clip", "projection_dim": "x", "vision_config": {"hidden_size": 32}}, "'projection_dim'"),
    ({"model_type": "bert", "architectures": ["BertForSequenceClassification"], "id2label": 3, "num_labels": "x"},
     "'num_labels'"),
])
def test_malformed_config_values_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           fields: dict[str, object], message: str) -> None:
    r = run_cli(capsys, "estimate", str(_config(tmp_path, **fields)), "-d", "bf16")
    assert r.code in (1, 2) and message in r.err and "internal error" not in r.err, r.err
    assert len(r.err) < 400


def test_infinite_rope_factor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, max_position_embeddings=4096)
    path.write_text(path.read_text()[:-1] + ', "rope_scaling": {"factor": Infinity, '
                                            '"original_max_position_embeddings": 4096}}')
    r = run_cli(capsys, "estimate", str(path), "-d", "bf16")
    assert r.code == 1 and "rope_scaling.factor" in r.err


def test_roberta_with_a_null_pad_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, model_type="roberta", max_position_embeddings=514, pad_token_id=None,
                   architectures=["RobertaModel"], intermediate_size=256)
    r = run_cli(capsys, "estimate", str(path), "-d", "bf16", "--json")
    assert r.code == 0, r.err
    assert "512" in json.dumps(r.json())


def test_a_tiny_position_table_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, model_type="roberta", max_position_embeddings=2, pad_token_id=1,
                   architectures=["RobertaModel"])
    r = run_cli(capsys, "estimate", str(path), "-d", "bf16")
    assert r.code == 1 and "max_position_embeddings 2 leaves no position" in r.err and "--" not in r.err.split("—")[0]


@pytest.mark.parametrize("id2label", [3, True, "abc", [1, 2]])
def test_an_id2label_that_is_no_mapping_is_not_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       id2label: object) -> None:
    # found by benchmarks/fuzz_hostile.py (was a TypeError: object of type 'int' has no len())
    path = _config(tmp_path, model_type="bert", architectures=["BertForSequenceClassification"], id2label=id2label,
                   num_labels=5)
    r = run_cli(capsys, "inspect", str(path), "--json", "--tensors")
    assert r.code == 0, r.err
    assert {t["name"]: t["shape"] for t in r.json()["tensors"]}["classifier.weight"] == [5, 64]
