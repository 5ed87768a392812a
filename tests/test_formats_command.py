"""`vramcalc formats`: the whole registry as a table and as JSON, filtered by family, with the user's files."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vramcalc.registry import FAMILIES, Registry, load_registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def test_json_lists_every_entry_with_its_layout(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "formats", "--json")
    assert r.code == 0 and r.err == ""
    data = r.json()
    assert data["schema_version"] == 1 and data["command"] == "formats"
    assert data["registry_files"] == [str(p) for p in registry.sources]
    rows = {f["name"]: f for f in data["formats"]}
    assert list(rows) == [s.name for s in registry]
    for spec in registry:
        row = rows[spec.name]
        priced = registry.get(spec.base_type) if spec.base_type else spec
        assert Fraction(row["bits_per_weight_exact"]) == priced.bits_per_weight, spec.name
        assert row["aliases"] == spec.aliases and row["family"] == spec.family
        assert row["notes"] == spec.notes and row["source"] == spec.source
    assert rows["Q4_0"]["block_bytes"] == 18 and rows["Q6_K"]["block_bytes"] == 210
    assert rows["Q4_K_M"]["base_type"] == "Q4_K" and rows["Q4_K_M"]["bits_per_weight"] == 4.5
    assert Fraction(rows["nf4_dq"]["bits_per_weight_exact"]) == Fraction("4.126953125")


def test_table_lists_every_entry(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "formats")
    assert r.code == 0
    assert _first_cells(r.out) == {s.name for s in registry}


def _first_cells(table: str) -> set[str]:
    """The Name column of a rendered table (continuation lines of wrapped rows have it empty)."""
    return {c for line in table.splitlines() if line.count("│") > 2 and (c := line.split("│")[1].strip())}


@pytest.mark.parametrize("family", ["gguf_type", "gguf_mix", "hqq", "bitsandbytes", "mlx"])
def test_family_filter(registry: Registry, family: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_cli(capsys, "formats", "--family", family, "--json").json()["formats"]
    assert [f["name"] for f in rows] == [s.name for s in registry if s.family == family]
    table = run_cli(capsys, "formats", "--family", family).out
    assert _first_cells(table) == {s.name for s in registry if s.family == family}


def test_family_filter_accepts_dashes_and_case(capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_cli(capsys, "formats", "--family", "GGUF-Type", "--json").json()["formats"]
    assert rows and {f["family"] for f in rows} == {"gguf_type"}


def test_unknown_family_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "formats", "--family", "ggufs")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("Error: unknown format family 'ggufs' — use one of: ")
    assert all(f in r.err for f in FAMILIES) and "Traceback" not in r.err


USER_FILE = """
[[format]]
name = "Q4_0"
family = "gguf_type"
payload_bits = 4
block_size = 32
ggml_type = 2
overhead = [{ name = "fp32 scale", bits = 32, per = "block" }]
notes = "a deliberately different Q4_0 (fp32 scale) to see the override"
source = "test"

[[format]]
name = "my_q3"
aliases = ["MyQ3"]
family = "int"
payload_bits = 3
block_size = 64
overhead = [{ name = "fp16 scale", bits = 16, per = "block" }]
"""


def test_user_file_overrides_and_adds_via_flag_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(USER_FILE)
    shipped = {f["name"] for f in run_cli(capsys, "formats", "--json").json()["formats"]}
    for args in (["--formats", str(mine)], []):
        if not args:
            monkeypatch.setenv("VRAMCALC_FORMATS", str(mine))
        data = run_cli(capsys, "formats", "--json", *args).json()
        rows = {f["name"]: f for f in data["formats"]}
        assert set(rows) == shipped | {"my_q3"}
        assert rows["Q4_0"]["bits_per_weight"] == 5.0 and rows["Q4_0"]["block_bytes"] == 20
        assert rows["my_q3"]["bits_per_weight_exact"] == "13/4" and rows["my_q3"]["aliases"] == ["MyQ3"]
        assert data["registry_files"][-1] == str(mine)
    # the added entry is usable by name or alias, case-insensitively
    r = run_cli(capsys, "estimate", "1B", "-d", "myq3", "--json")
    assert r.code == 0 and r.json()["rows"][0]["weight_bytes"] == 406_250_000


def test_bad_user_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[format]]\nname = "myq"\nfamily = "int"\npaylod_bits = 4\n')
    r = run_cli(capsys, "formats", "--formats", str(bad))
    assert r.code == 1 and r.out == ""
    assert r.err.startswith(f"Error: {bad}: format 'myq', field 'paylod_bits': unknown field")
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1


def test_as_a_separate_process(tmp_path: Path) -> None:
    env = {"VRAMCALC_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "vramcalc", "formats", "--family", "awq", "--json"],
                         capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    rows = json.loads(out)["formats"]
    assert [f["name"] for f in rows] == ["awq"] and rows[0]["bits_per_weight"] == 4.15625


def test_formats_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "formats", "Q4_K_M", "bfloat16", "--json").json()
    assert [f["name"] for f in data["formats"]] == ["bf16", "Q4_K_M"]  # aliases resolve; registry order
    assert "not k-means" in data["formats"][1]["notes"]
    typo = run_cli(capsys, "formats", "Q4_K_Q")
    assert typo.code == 2 and typo.err.startswith("Error: unknown format 'Q4_K_Q' — did you mean Q4_K_S, Q4_K_M")
