"""The shipped registry: layouts give the published block sizes; user files are validated the same way."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from vramcalc import registry as registry_mod
from vramcalc.calculator.weights import tensor_bytes
from vramcalc.errors import RegistryError, UnknownFormatError, UsageError
from vramcalc.registry import FormatSpec, Registry, load_registry

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


# ---------------------------------------------------------------- the shipped file itself


def test_shipped_file_validates_without_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", "off")
    path = registry_mod.shipped_formats_path()
    parsed = registry_mod._parse_file(path, path.read_bytes())
    assert len(parsed.format) >= 100
    fresh = load_registry()
    assert [s.name for s in fresh] == [s.name for s in parsed.format]


def test_cached_registry_equals_a_fresh_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_registry()  # writes the cache (VRAMCALC_CACHE_DIR is a temp dir in tests)
    again = load_registry()  # reads it back
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", "off")
    fresh = load_registry()
    for a, b, c in zip(first, again, fresh, strict=True):
        assert a == b == c


def test_default_rows(registry: Registry) -> None:
    rows = [registry.get(r).name for r in registry.default_rows]
    assert rows == ["fp32", "bf16", "fp8_e4m3", "int8", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "q4", "nf4", "Q3_K_M",
                    "Q2_K"]
    assert registry.get("q4").block_size == 128


def test_every_entry_says_what_it_is_and_where_it_comes_from(registry: Registry) -> None:
    for spec in registry:
        assert spec.notes.strip() and spec.source.strip(), spec.name


# ---------------------------------------------------------------- GGUF types and llama.cpp file types

# ggml.c type_traits rows for the plain GGUF element types (the quantized ones are in ggml_block_table.json).
GGML_PLAIN = [("fp32", 0, 32), ("fp16", 1, 16), ("bf16", 30, 16), ("fp64", 28, 64),
              ("int8_tensor", 24, 8), ("int16", 25, 16), ("int32", 26, 32), ("int64", 27, 64)]


def test_every_entry_with_a_ggml_type_is_in_the_block_table(registry: Registry) -> None:
    table = json.loads((DATA / "ggml_block_table.json").read_text())["types"]
    known = {type_id: (block, nbytes) for _, type_id, block, nbytes in table}
    for name, type_id, bits in GGML_PLAIN:
        assert registry.for_ggml_type(type_id) is registry.get(name)
        assert registry.get(name).bits_per_weight == bits and registry.get(name).block_size is None
        known[type_id] = (1, bits // 8)
    with_id = [s for s in registry if s.ggml_type is not None]
    assert len(with_id) == len(known) == 35
    for spec in with_id:
        block, nbytes = known[spec.ggml_type]
        assert (spec.block_size or 1, spec.block_bytes or spec.bits_per_weight / 8) == (block, nbytes), spec.name
        assert spec.family in ("gguf_type", "float", "int"), spec.name


@pytest.mark.parametrize(("name", "nbytes", "block"), [("Q4_0", 18, 32), ("Q8_0", 34, 32), ("Q4_K", 144, 256),
                                                        ("Q6_K", 210, 256)])
def test_hand_checked_gguf_blocks(registry: Registry, name: str, nbytes: int, block: int) -> None:
    spec = registry.get(name)
    assert (spec.block_bytes, spec.block_size) == (nbytes, block)
    # a 4096-wide row is 4096/block blocks of exactly that many bytes
    assert tensor_bytes(spec, (3, 4096)) == 3 * 4096 // block * nbytes


# tools/quantize/quantize.cpp QUANT_OPTIONS (llama.cpp, 2026): every name llama-quantize accepts as a target.
LLAMA_QUANTIZE_TARGETS = [
    "Q1_0", "Q2_0", "Q4_0", "Q4_1", "MXFP4_MOE", "Q5_0", "Q5_1", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S",
    "IQ1_M", "TQ1_0", "TQ2_0", "Q2_K", "Q2_K_S", "IQ3_XXS", "IQ3_S", "IQ3_M", "Q3_K", "IQ3_XS", "Q3_K_S", "Q3_K_M",
    "Q3_K_L", "IQ4_NL", "IQ4_XS", "Q4_K", "Q4_K_S", "Q4_K_M", "Q5_K", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "F16",
    "BF16", "F32",
]


def test_every_llama_quantize_target_is_known_once(registry: Registry) -> None:
    for name in LLAMA_QUANTIZE_TARGETS:
        spec = registry.get(name)
        if spec.family == "gguf_mix":
            base = registry.get(spec.base_type or "")
            assert base.family == "gguf_type" and base.ggml_type is not None, name
        elif spec.family == "gguf_type":
            # a name that is both a tensor type and a file type is one entry, and its notes say so
            assert "llama-quantize" in spec.notes, name
        else:
            assert spec.family == "float", name
    # one entry per name: no mix duplicates a tensor type
    mixes = {s.name.upper() for s in registry if s.family == "gguf_mix"}
    types = {s.name.upper() for s in registry if s.family == "gguf_type"}
    assert not mixes & types
    assert registry.find("Q4_K_L") is None  # not a llama-quantize type; the Q4_K_M notes explain the name
    assert "Q4_K_L" in registry.get("Q4_K_M").notes


def test_k_quant_notes_correct_the_k_means_myth(registry: Registry) -> None:
    for name in ("Q4_K_M", "Q5_K_M", "Q4_K"):
        assert "not k-means" in registry.get(name).notes, name
    assert "8.5 bpw, not 8" in registry.get("Q8_0").notes
    assert "4.5 bpw" in registry.get("nf4").notes


# ---------------------------------------------- hand-checked layouts (AutoGPTQ, AutoAWQ, bitsandbytes, ONNX, OCP MX)


def test_gptq_awq_group_sizes(registry: Registry) -> None:
    gptq = registry.get("gptq")
    assert gptq.bits_per_weight == Fraction("4.15625")
    assert gptq.with_options(group_size=32).bits_per_weight == Fraction("4.625")
    assert gptq.with_options(group_size=64).bits_per_weight == Fraction("4.3125")
    # the g_idx is an int32 per input feature (column): 32/out bits per weight, priced per tensor
    assert [o.per for o in gptq.shape_dependent_overhead] == ["column"]
    out, inp = 11008, 4096
    expected = out * inp * Fraction("4.15625") / 8 + 4 * inp
    assert tensor_bytes(gptq, (out, inp)) == expected
    assert registry.get("awq").bits_per_weight == Fraction("4.15625")
    assert registry.get("awq").shape_dependent_overhead == []


def test_generic_group_quant_is_configurable(registry: Registry) -> None:
    q4 = registry.get("q4")
    assert q4.with_options(group_size=32).bits_per_weight == 4 + Fraction(20, 32)
    assert q4.with_options(scale_bits=32).bits_per_weight == 4 + Fraction(36, 128)
    assert q4.with_options(group_size=32).name == "q4-g32"
    for bits in (2, 3, 5, 6, 8):
        assert registry.get(f"q{bits}").bits_per_weight == bits + Fraction(16 + bits, 128)


def test_bitsandbytes(registry: Registry) -> None:
    assert registry.get("nf4").bits_per_weight == Fraction(9, 2)
    assert registry.get("nf4_dq").bits_per_weight == Fraction("4.126953125") == 4 + Fraction(8, 64) + Fraction(
        32, 64 * 256)
    # QLoRA is a training method: refused as a format, with the inference format of its base named
    with pytest.raises(UnknownFormatError, match="fine-tuning method") as e:
        registry.get("qlora")
    assert "nf4_dq" in (e.value.todo or "")
    assert registry.get("fp4_dq").bits_per_weight == Fraction("4.126953125")
    # LLM.int8: the fp32 SCB is one per output row, i.e. per row of `tensor_bytes` → 8 + 32/in bits per weight
    int8 = registry.get("bnb_int8")
    out, inp = 4096, 14336
    assert tensor_bytes(int8, (out, inp)) * 8 == out * inp * (8 + Fraction(32, inp))


def test_microscaling_and_fp8(registry: Registry) -> None:
    assert registry.get("mxfp4_ocp").bits_per_weight == Fraction(17, 4) == registry.get("MXFP4").bits_per_weight
    assert registry.get("mxfp8").bits_per_weight == Fraction(33, 4)
    nvfp4 = registry.get("nvfp4")
    assert nvfp4.bits_per_weight == Fraction(9, 2)
    assert tensor_bytes(nvfp4, (256, 256)) * 8 == 256 * 256 * Fraction(9, 2) + 32
    fp8_block = registry.get("fp8_128x128")
    assert fp8_block.bits_per_weight == 8 + Fraction(1, 512) and round(float(fp8_block.bits_per_weight), 5) == 8.00195
    # a partial tile still has its scale: ceil(300/128) × ceil(200/128) = 3 × 2 scales
    assert tensor_bytes(fp8_block, (300, 200)) == 300 * 200 + 6 * 4
    assert tensor_bytes(registry.get("fp8_channel"), (512, 1024)) == 512 * 1024 + 512 * 4
    assert tensor_bytes(registry.get("fbgemm_fp8"), (512, 1024)) == 512 * 1024 + 512 * 4
    assert tensor_bytes(registry.get("fp8"), (512, 1024)) == 512 * 1024 + 4


def test_onnx_matmulnbits(registry: Registry) -> None:
    assert registry.get("q4f16").bits_per_weight == 4 + Fraction(16, 32)
    assert registry.get("model_q4").bits_per_weight == 4 + Fraction(32, 32)
    assert registry.get("onnx_q4_zp").bits_per_weight == 4 + Fraction(36, 32)
    assert registry.get("q4f16").keep_dtype == "fp16" and registry.get("onnx_q4").keep_dtype == "fp32"


def test_hqq_widths_follow_its_bit_packing(registry: Registry) -> None:
    # hqq/core/bitpack.py: 8/4/2-bit in uint8, 3-bit ten per int32, 5/6-bit unpacked in uint8
    hqq = registry.get("hqq")
    got = {b: hqq.with_options(bits=b).bits_per_weight for b in (1, 2, 3, 4, 5, 6, 8)}
    assert got == {1: Fraction(3, 2), 2: Fraction(5, 2), 3: Fraction(37, 10), 4: Fraction(9, 2),
                   5: Fraction(17, 2), 6: Fraction(17, 2), 8: Fraction(17, 2)}
    assert hqq.with_options(bits=5).nominal_bits == 5
    assert "5-bit stored in 8 bits" in hqq.with_options(bits=5).layout_text()
    assert registry.get("hqq_3bit").bits_per_weight == Fraction(37, 10)
    with pytest.raises(UsageError, match="cannot store 7-bit"):
        hqq.with_options(bits=7)
    assert hqq.with_options(group_size=128, bits=2).bits_per_weight == 2 + Fraction(32, 128)


def test_codebook_formats_pay_per_layer(registry: Registry) -> None:
    out, inp = 4096, 4096
    aqlm = registry.get("aqlm")
    assert tensor_bytes(aqlm, (out, inp)) == out * inp // 4 + 2**16 * 8 * 2 + out * 2
    assert tensor_bytes(registry.get("aqlm_2x8"), (out, inp)) == out * inp // 4 + 2 * 2**8 * 8 * 2 + out * 2
    quip = registry.get("quip#")
    assert tensor_bytes(quip, (out, inp)) == out * inp // 4 + 2 * inp + 2 * out + 4


def test_exl2_bits_are_a_target(registry: Registry) -> None:
    exl2 = registry.get("exllamav2")
    assert exl2.with_options(bits=4.65).bits_per_weight == Fraction("4.65")
    assert exl2.with_options(bits=4.65).name == "exl2-4.65b"
    assert "6 bits" in exl2.notes


def test_integer_ranges(registry: Registry) -> None:
    assert registry.get("u8").value_range == "0..255"
    assert registry.get("i8").value_range == "-128..127"
    assert registry.get("int8").value_range == "-127..127"
    assert "-128..127" in registry.get("i8").layout_text()


# safetensors/src/tensor.rs Dtype::bitsize for every dtype
SAFETENSORS_BITS = {"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
                    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
                    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64}


def test_storage_dtype_widths(registry: Registry) -> None:
    for dtype, bits in SAFETENSORS_BITS.items():
        spec = registry.for_storage_dtype(dtype.lower())
        assert spec is not None and spec.payload == bits, dtype
    assert registry.for_storage_dtype("F8_E4M3") is registry.get("fp8_e4m3")
    assert registry.for_storage_dtype("X9") is None


def test_lookup_variants(registry: Registry) -> None:
    assert registry.get("BFLOAT16") is registry.get("bf16") is registry.get(" Bf16 ")
    assert registry.get("Q4 K M") is registry.get("q4_k_m") is registry.get("Q4-K-M")
    assert registry.get("NF4-DQ") is registry.get("bnb_NF4_DQ")
    assert registry.find("no-such-format") is None
    assert "Q4_K_M" in registry.suggest("Q4_K_N")


# ---------------------------------------------------------------- properties


def _layout_key(spec: FormatSpec) -> tuple[object, ...]:
    return (spec.family, spec.block_size, tuple(sorted((o.per, o.every, o.tile) for o in spec.overhead)))


def _overhead_bits(spec: FormatSpec) -> list[int]:
    return [o.bits for o in sorted(spec.overhead, key=lambda o: (o.per, o.every or 0, o.tile or (0, 0)))]


def _ordered_pairs(registry: Registry) -> list[tuple[FormatSpec, FormatSpec]]:
    """Pairs (a, b) of one family and block layout where b stores at least as much everywhere as a."""
    specs = [s for s in registry if s.payload_bits is not None]
    return [(a, b) for a in specs for b in specs
            if _layout_key(a) == _layout_key(b) and a.payload < b.payload
            and all(x <= y for x, y in zip(_overhead_bits(a), _overhead_bits(b), strict=True))]


def test_the_monotonicity_property_has_something_to_check(registry: Registry) -> None:
    names = {(a.name, b.name) for a, b in _ordered_pairs(registry)}
    assert {("Q4_0", "Q8_0"), ("gptq_2bit", "gptq_8bit"), ("q3", "q5"), ("hqq_2bit", "hqq_5bit")} <= names
    assert len(names) > 40


@given(rows=st.integers(1, 300), cols=st.integers(1, 2048), data=st.data())
def test_more_payload_bits_never_fewer_bytes(rows: int, cols: int, data: st.DataObject) -> None:
    reg = load_registry()
    pairs = _ordered_pairs(reg)
    a, b = data.draw(st.sampled_from(pairs))
    assert a.bits_per_weight <= b.bits_per_weight
    assert tensor_bytes(a, (rows, cols)) <= tensor_bytes(b, (rows, cols)), (a.name, b.name)


@given(lo=st.sampled_from([1, 2, 3, 4, 5, 6, 8]), hi=st.sampled_from([1, 2, 3, 4, 5, 6, 8]),
       shape=st.tuples(st.integers(1, 64), st.integers(1, 1024)))
def test_more_nominal_bits_never_fewer_bytes(lo: int, hi: int, shape: tuple[int, int]) -> None:
    reg = load_registry()
    lo, hi = min(lo, hi), max(lo, hi)
    for name in ("hqq", "exl2"):
        spec = reg.get(name)
        assert tensor_bytes(spec.with_options(bits=lo), shape) <= tensor_bytes(spec.with_options(bits=hi), shape)


# ---------------------------------------------------------------- user files


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('payload_bits = 4\nper = "row"\n', "format 'myq', field 'per': unknown field"),
        ('payload_bits = 4\noverhead = [{ name = "s", bits = 16, per = "rows" }]\n',
         "format 'myq', field 'overhead.0.per'"),
        ('payload_bits = 4\noverhead = [{ name = "s", bits = 16, per = "block" }]\n',
         "format 'myq', field '(entry)': Value error, overhead per block needs `block_size`"),
        ('payload_bits = 0\n', "format 'myq', field 'payload_bits'"),
        ('payload_bits = 4\nstored_as = { 5 = 4 }\n', "5-bit values cannot take fewer bits"),
        ('payload_bits = 4\nfamily_x = 1\n', "field 'family_x': unknown field"),
    ],
)
def test_user_file_errors_name_file_entry_and_field(tmp_path: Path, body: str, expected: str) -> None:
    bad = _write(tmp_path / "mine.toml", f'[[format]]\nname = "myq"\nfamily = "int"\n{body}')
    with pytest.raises(RegistryError) as e:
        load_registry([bad])
    assert str(e.value).startswith(f"{bad}: ") and expected in str(e.value)


def test_user_file_syntax_and_missing(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="is not valid TOML"):
        load_registry([_write(tmp_path / "x.toml", "[[format]\n")])
    with pytest.raises(RegistryError, match="does not exist"):
        load_registry([tmp_path / "nope.toml"])
    with pytest.raises(RegistryError, match="'base_type': 'Q9_K' is not a known format"):
        load_registry([_write(tmp_path / "m.toml", '[[format]]\nname = "mymix"\nfamily = "gguf_mix"\n'
                                                     'base_type = "Q9_K"\n')])
    with pytest.raises(RegistryError, match="default_rows names unknown format 'zz'"):
        load_registry([_write(tmp_path / "d.toml", 'default_rows = ["bf16", "zz"]\n')])


def test_duplicate_alias_between_two_user_entries(tmp_path: Path) -> None:
    mine = _write(tmp_path / "dup.toml", '[[format]]\nname = "a1"\naliases = ["same"]\nfamily = "int"\n'
                                         'payload_bits = 3\n\n[[format]]\nname = "a2"\naliases = ["SAME"]\n'
                                         'family = "int"\npayload_bits = 5\n')
    with pytest.raises(RegistryError, match="alias 'SAME' is already used by 'a1'"):
        load_registry([mine])


def test_env_and_flag_files_apply_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = _write(tmp_path / "env.toml", '[[format]]\nname = "my3"\nfamily = "int"\npayload_bits = 3\n')
    flag_file = _write(tmp_path / "flag.toml", '[[format]]\nname = "my3"\nfamily = "int"\npayload_bits = 5\n')
    monkeypatch.setenv("VRAMCALC_FORMATS", str(env_file))
    assert load_registry().get("my3").bits_per_weight == 3
    reg = load_registry([flag_file])
    assert reg.get("my3").bits_per_weight == 5  # the flag's file comes last and wins
    assert reg.sources[-2:] == [str(env_file), str(flag_file)]
    monkeypatch.delenv("VRAMCALC_FORMATS")
    assert len(reg) == len(load_registry()) + 1 == len(list(reg))


# ---------------------------------------------------------------- --bits with zero points, per-row groups, MLX


def test_gptq_bits_move_the_zero_points_with_the_weights(registry: Registry) -> None:
    gptq = registry.get("gptq")
    shape = (4096, 11008)
    for bits in (2, 3, 8):
        changed = gptq.with_options(bits=bits)
        assert changed.name == f"gptq_{bits}bit"
        # the same bytes as the shipped fixed-width entry: b-bit payload, fp16 scale + b-bit zero per 128, g_idx
        assert tensor_bytes(changed, shape) == tensor_bytes(registry.get(f"gptq_{bits}bit"), shape)
        assert changed.bits_per_weight == bits + Fraction(16 + bits, 128)
    assert gptq.with_options(bits=3, group_size=32).name == "gptq_3bit-g32"
    assert gptq.with_options(bits=3, group_size=32).bits_per_weight == 3 + Fraction(19, 32)
    with pytest.raises(UsageError, match="cannot store 5-bit weights — use --bits 2, 3, 4, 8"):
        gptq.with_options(bits=5)
    # a generic asymmetric q4 has no stored_as, but its zero point still needs a whole width
    with pytest.raises(UsageError, match="whole-bit"):
        registry.get("q4").with_options(bits=4.5)


def test_group_minus_one_is_one_group_per_row(registry: Registry) -> None:
    gptq = registry.get("gptq").with_options(group_size=-1)
    out, inp = 4096, 11008
    # AutoGPTQ qlinear layout: scales/qzeros [ceil(in/g), out] with g = in → one fp16 scale + 4-bit zero per
    # output channel, plus the int32 g_idx per input feature
    assert gptq.block_size is None and gptq.name == "gptq_4bit-g-1"
    assert tensor_bytes(gptq, (out, inp)) * 8 == out * inp * 4 + out * (16 + 4) + inp * 32
    with pytest.raises(UsageError, match="second-level scales"):
        registry.get("nf4_dq").with_options(group_size=-1)
    with pytest.raises(UsageError, match="group size 0 is not possible"):
        registry.get("q4").with_options(group_size=0)


@given(lo=st.sampled_from([2, 3, 4, 8]), hi=st.sampled_from([2, 3, 4, 8]), group=st.sampled_from([-1, 32, 64, 128]),
       shape=st.tuples(st.integers(1, 64), st.integers(1, 1024)))
def test_more_bits_with_their_zeros_never_fewer_bytes(lo: int, hi: int, group: int, shape: tuple[int, int]) -> None:
    reg = load_registry()
    lo, hi = min(lo, hi), max(lo, hi)
    for name in ("gptq", "mlx", "q4"):
        spec = reg.get(name).with_options(group_size=group) if group != -1 or name != "mlx" else reg.get(name)
        assert tensor_bytes(spec.with_options(bits=lo), shape) <= tensor_bytes(spec.with_options(bits=hi), shape)


def test_follows_bits_must_match_the_width(tmp_path: Path) -> None:
    bad = _write(tmp_path / "z.toml", '[[format]]\nname = "myq"\nfamily = "int"\npayload_bits = 4\nblock_size = 32\n'
                                      'overhead = [{ name = "zero", bits = 3, per = "block", follows_bits = true }]\n')
    with pytest.raises(RegistryError, match="format 'myq'.*'zero' follows the weights' width, so it must be 4 bits"):
        load_registry([bad])


def test_mlx_affine(registry: Registry) -> None:
    # mlx.core.quantize affine mode: bits 2-8 packed into uint32, a scale and bias per group (default 64)
    mlx = registry.get("MLX")
    assert mlx is registry.get("mlx_4bit") and mlx.family == "mlx"
    assert mlx.bits_per_weight == Fraction(9, 2)
    assert mlx.quantize_embeddings and mlx.quantize_lm_head
    for bits in (2, 3, 5, 6, 8):
        fixed = registry.get(f"mlx_q{bits}")
        assert fixed.bits_per_weight == bits + Fraction(32, 64)
        assert mlx.with_options(bits=bits).bits_per_weight == fixed.bits_per_weight
    assert mlx.with_options(group_size=32).bits_per_weight == 5
    with pytest.raises(UsageError, match="cannot store 7-bit"):
        mlx.with_options(bits=7)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('payload_bits = 4\nggml_type = 2\n', "format 'myq': ggml_type 2 is already 'Q4_0'"),
        ('payload_bits = 16\nstorage_dtypes = ["bf16"]\n', "format 'myq': storage dtype 'bf16' is already 'bf16'"),
        ('payload_bits = 4\nllama_ftype = 15\n', "format 'myq': llama_ftype 15 is already 'Q4_K_M'"),
    ],
)
def test_a_file_type_maps_to_one_format(tmp_path: Path, body: str, expected: str) -> None:
    mine = _write(tmp_path / "m.toml", f'[[format]]\nname = "myq"\nfamily = "int"\n{body}')
    with pytest.raises(RegistryError, match=expected):
        load_registry([mine])


def test_a_zero_tile_is_refused_not_divided_by(tmp_path: Path) -> None:
    mine = _write(tmp_path / "t.toml", '[[format]]\nname = "myq"\nfamily = "fp8"\npayload_bits = 8\n'
                                       'overhead = [{ name = "s", bits = 32, per = "tile", tile = [0, 128] }]\n')
    with pytest.raises(RegistryError, match="format 'myq', field 'overhead.0.tile.0'"):
        load_registry([mine])


def test_the_cache_key_changes_with_the_registry_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", str(tmp_path))
    before = registry_mod._cache_path(b"x")
    code = tmp_path / "registry.py"
    code.write_text("# another version of the module\n")
    monkeypatch.setattr(registry_mod, "__file__", str(code))
    assert registry_mod._cache_path(b"x") != before


def test_llama_file_type_ids(registry: Registry) -> None:
    # llama.h enum llama_ftype: MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7, MOSTLY_Q4_K_M = 15, MOSTLY_BF16 = 32,
    # MOSTLY_MXFP4_MOE = 38
    names = {i: s.name for i in (2, 7, 15, 32, 38) if (s := registry.for_llama_ftype(i)) is not None}
    assert names == {2: "Q4_0", 7: "Q8_0", 15: "Q4_K_M", 32: "bf16", 38: "MXFP4_MOE"}
    assert registry.for_llama_ftype(4) is None  # retired (MOSTLY_Q4_1_SOME_F16)


def test_sources_cite_public_code_or_files_in_the_repo(registry: Registry) -> None:
    # they ship in every JSON report: no path to the team's private folders
    import vramcalc.heuristics as H

    sources = [f.source for f in registry.formats] + [
        h.source for h in vars(H).values() if isinstance(h, H.Heuristic)]
    assert sources and not [s for s in sources if "shared/" in s or "storage-formats.md" in s]
    root = Path(__file__).resolve().parents[1]
    for s in sources:
        for cited in re.findall(r"tests/data/[\w./-]+\.\w+", s):
            assert (root / cited.rstrip(".")).is_file(), (cited, s)
