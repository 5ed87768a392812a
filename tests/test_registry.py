"""The shipped registry: layouts give the published block sizes; user files are validated the same way."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from vramcalc.calculator.weights import tensor_bytes
from vramcalc.errors import RegistryError, UnknownFormatError
from vramcalc.registry import load_registry

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry()


def test_every_gguf_type_matches_the_block_table(registry) -> None:  # type: ignore[no-untyped-def]
    table = json.loads((DATA / "ggml_block_table.json").read_text())["types"]
    for name, type_id, block, nbytes in table:
        spec = registry.get(name)
        assert (spec.ggml_type, spec.block_size, spec.block_bytes) == (type_id, block, nbytes), name
        assert registry.for_ggml_type(type_id) is spec


@pytest.mark.parametrize(
    ("name", "bpw"),
    [
        ("Q4_0", Fraction(9, 2)), ("Q8_0", Fraction(17, 2)), ("Q4_K", Fraction(9, 2)),
        ("Q6_K", Fraction(105, 16)), ("nf4", Fraction(9, 2)), ("nf4_dq", Fraction("4.126953125")),
        ("gptq", Fraction("4.15625")), ("awq", Fraction("4.15625")), ("mxfp4_ocp", Fraction("4.25")),
        ("mxfp8", Fraction("8.25")), ("nvfp4", Fraction("4.5")), ("fp8_block", 8 + Fraction(32, 128 * 128)),
        ("onnx_q4", Fraction(5)), ("onnx_q4f16", Fraction(9, 2)), ("hqq_5bit", Fraction(17, 2)),
    ],
)
def test_bits_per_weight_from_layouts(registry, name: str, bpw: Fraction) -> None:  # type: ignore[no-untyped-def]
    assert registry.get(name).bits_per_weight == bpw


def test_shape_dependent_terms(registry) -> None:  # type: ignore[no-untyped-def]
    # GPTQ g32: 4 + (16 + 4)/32 bits per weight plus an int32 g_idx per input column.
    gptq = registry.get("gptq").with_options(group_size=32)
    assert tensor_bytes(gptq, (4096, 4096)) == (4096 * 4096 * (4 * 32 + 20) // 32 + 32 * 4096) // 8
    # LLM.int8: int8 weights plus an fp32 scale per output row.
    assert tensor_bytes(registry.get("llm_int8"), (11008, 4096)) == 11008 * 4096 + 4 * 11008
    # NVFP4: 4.5 bpw plus one fp32 global scale per tensor.
    assert tensor_bytes(registry.get("nvfp4"), (1024, 1024)) == 1024 * 1024 * 9 // 16 + 4


def test_aliases_are_case_insensitive(registry) -> None:  # type: ignore[no-untyped-def]
    assert registry.get("BFloat16") is registry.get("bf16")
    assert registry.get("q4-k-m") is registry.get("Q4_K_M")
    with pytest.raises(UnknownFormatError, match="did you mean"):
        registry.get("Q4_K_X")


def test_every_safetensors_dtype_is_known(registry) -> None:  # type: ignore[no-untyped-def]
    for dtype in ("BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                  "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64",
                  "F64", "I64", "U64"):
        assert registry.for_storage_dtype(dtype) is not None, dtype


@given(bits=st.integers(1, 7), rows=st.integers(1, 64), blocks=st.integers(1, 8))
def test_more_bits_never_fewer_bytes(bits: int, rows: int, blocks: int) -> None:
    reg = load_registry()
    low, high = reg.get(f"q{bits}" if bits in (2, 3, 5, 6) else "q4"), reg.get("q8")
    shape = (rows, 128 * blocks)
    assert tensor_bytes(low.with_options(bits=float(bits)), shape) <= tensor_bytes(high, shape)


def test_user_file_with_a_typo_names_file_entry_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "mine.toml"
    bad.write_text('[[format]]\nname = "myq"\nfamily = "int"\npaylod_bits = 4\n')
    with pytest.raises(RegistryError) as e:
        load_registry([bad])
    assert f"{bad}: format 'myq', field 'paylod_bits': unknown field" in str(e.value)


def test_user_file_adds_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('[[format]]\nname = "q4"\nfamily = "int"\npayload_bits = 4\nblock_size = 64\n'
                    'overhead = [{ name = "fp16 scale", bits = 16, per = "block" }]\n\n'
                    '[[format]]\nname = "my3"\nfamily = "int"\npayload_bits = 3\n')
    reg = load_registry([mine])
    assert reg.get("q4").bits_per_weight == Fraction(17, 4) and reg.get("my3").bits_per_weight == 3
    monkeypatch.setenv("VRAMCALC_FORMATS", str(mine))
    r = run_cli(capsys, "estimate", "1B", "-d", "my3", "--json")
    assert r.code == 0 and r.json()["rows"][0]["weight_bytes"] == 375_000_000


def test_duplicate_alias_refused(tmp_path: Path) -> None:
    mine = tmp_path / "dup.toml"
    mine.write_text('[[format]]\nname = "mine"\naliases = ["bfloat16"]\nfamily = "float"\npayload_bits = 16\n')
    with pytest.raises(RegistryError, match="alias 'bfloat16' is already used by 'bf16'"):
        load_registry([mine])


def test_formats_command_lists_every_entry(registry, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    data = run_cli(capsys, "formats", "--json").json()
    assert data["schema_version"] == 1
    assert {f["name"] for f in data["formats"]} == {s.name for s in registry}
    table = run_cli(capsys, "formats").out
    for spec in registry:
        assert spec.name in table
    only = run_cli(capsys, "formats", "--family", "gguf_mix", "--json").json()["formats"]
    assert only and all(f["family"] == "gguf_mix" for f in only)
    km = next(f for f in only if f["name"] == "Q4_K_M")
    assert "not k-means" in km["notes"]
