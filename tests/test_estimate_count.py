"""`vramcalc estimate COUNT`: hand-checked numbers and the CLI contract."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.cli_helpers import run_cli
from vramcalc.calculator.weights import count_bytes
from vramcalc.registry import load_registry


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry()


def test_12b_bf16_is_24_gb(registry) -> None:  # type: ignore[no-untyped-def]
    assert count_bytes(12 * 10**9, registry.get("bf16"), registry) == 24_000_000_000


def test_70b_at_4_5_bits(registry) -> None:  # type: ignore[no-untyped-def]
    spec = registry.get("Q4_0")
    assert spec.bits_per_weight == Fraction(9, 2)
    # a Q4_0 FILE is more: llama-quantize stores the output in Q6_K (priced on the representative decoder, which at
    # 70B is Llama-3.1-70B: its 1.05B-weight output at 6.5625 bits) — tests/test_label_mix.py has the details
    assert 39_375_000_000 < count_bytes(70 * 10**9, spec, registry) < 39_375_000_000 * 1.01
    # formats outside llama.cpp keep the layout's own bits per weight: int8 with a per-row scale → 8 bits
    assert count_bytes(70 * 10**9, registry.get("int8"), registry) == 70_000_000_000


def test_q4_0_block_is_18_bytes(registry) -> None:  # type: ignore[no-untyped-def]
    assert registry.get("Q4_0").block_bytes == 18


def test_estimate_bf16_table_says_24_gb(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "12B", "--dtype", "bf16")
    assert r.code == 0, r.err
    assert "24.00 GB" in r.out and "22.35 GiB" in r.out
    assert "not 12.0 GB" in r.out


def test_estimate_json_is_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "12B", "--dtype", "bf16", "--dtype", "Q8_0", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["schema_version"] == 1
    assert [row["format"] for row in data["rows"]] == ["bf16", "Q8_0"]
    bf16 = data["rows"][0]
    assert bf16["weight_bytes"] == 24_000_000_000
    assert bf16["total_bytes"] == bf16["weight_bytes"] + bf16["overhead_bytes"]
    # Q8_0: 8.5 bits, and the representative decoder's norms stay F32 (+0.01 %)
    assert 12_750_000_000 < data["rows"][1]["weight_bytes"] < 12_750_000_000 * 1.0002
    assert r.err == ""


def test_label_picks_its_format(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "estimate", "32B-Q4_K_M", "--json").json()
    assert [row["format"] for row in data["rows"]] == ["Q4_K_M"]


def test_group_size_changes_q4(capsys: pytest.CaptureFixture[str]) -> None:
    g32 = run_cli(capsys, "estimate", "1B", "-d", "q4", "--group-size", "32", "--json").json()["rows"][0]
    g128 = run_cli(capsys, "estimate", "1B", "-d", "q4", "--json").json()["rows"][0]
    # fp16 scale + 4-bit zero per group: 4 + 20/32 vs 4 + 20/128 bits per weight
    assert g32["weight_bytes"] == 1_000_000_000 * (4 * 32 + 20) // 32 // 8
    assert g128["weight_bytes"] == 1_000_000_000 * (4 * 128 + 20) // 128 // 8


def test_units_gib(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "12B", "-d", "bf16", "--units", "gib")
    assert "VRAM (GiB)" in r.out and "22.35 GiB" in r.out


def test_explain_shows_arithmetic(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "70B", "-d", "Q4_0", "--explain")
    assert "32 weights × 4 bits + 16 bits" in r.out
    assert "80 layers, hidden 8,192, intermediate 28,672" in r.out  # the representative decoder: Llama-3.1-70B
    assert "Q6_K 1.05B" in r.out  # its output, as llama-quantize stores it
    assert "cuda_context" in r.out


def test_moe_labels_explain_themselves(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "8x7B", "-d", "bf16")
    assert "true total is smaller" in r.out and "vramcalc inspect" in r.out
    r = run_cli(capsys, "estimate", "30B-A3B", "-d", "bf16", "--json")
    assert r.json()["model"]["active_params"] == 3 * 10**9


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["estimate", "twelve"], "Error: cannot read model 'twelve' — give a parameter count"),
        (["estimate", "12B", "--dtype", "q9"], "Error: unknown format 'q9' — "),
        (["estimate", "12B", "--foo"], "Error: No such option: --foo — run `vramcalc estimate --help`"),
        (["estimate", "3B-A30B"], "Error: active parameters (30B) exceed the total (3B)"),
        (["estimate", "./nope/config.json"], "Error: no such file or folder: ./nope/config.json — "),
        (["schema", "nothing"], "Error: no JSON report for 'nothing' — choose one of:"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], line: str) -> None:
    r = run_cli(capsys, *args)
    assert r.code == 2
    assert r.out == ""
    assert r.err.startswith(line), r.err
    assert r.err.count("\n") == 1 and "Traceback" not in r.err


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "schema", "estimate")
    assert r.code == 0
    schema = r.json()
    assert "rows" in schema["properties"] and "schema_version" in schema["properties"]
