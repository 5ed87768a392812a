"""Issue 13: a fuzz suite per parser (safetensors header, GGUF, config.json, formats TOML) and for the CLI's value
parsers — whatever the input, the one error class each promises (a VramcalcError), never another exception, and fast.
Bounded for CI (a few seconds each); benchmarks/fuzz_hostile.py runs the same kinds of input for longer."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vramcalc.errors import VramcalcError

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])

# --------------------------------------------------------------------------- values typed on the command line

_VALUE_ALPHABET = st.sampled_from(list("0123456789.,_eE+-kKmMbBgGtTiIxX×* aA:@/\t") + ["\x00", "\u00a0", "é"])
values = st.one_of(st.text(_VALUE_ALPHABET, max_size=80), st.text(max_size=40),
                   st.builds(lambda n, s: "1" + " " * n + s, st.integers(0, 20_000), st.text(max_size=3)))


@FAST
@given(values)
def test_value_parsers_raise_only_usage_errors(text: str) -> None:
    from vramcalc.units import parse_context, parse_count, parse_label, parse_resolution, parse_size

    for parse in (parse_count, parse_size, parse_context, parse_resolution, parse_label):
        t0 = time.perf_counter()
        try:
            result = parse(text)
        except VramcalcError:
            pass
        else:
            assert result is not None
        assert time.perf_counter() - t0 < 0.5, (parse.__name__, len(text))


@FAST
@given(st.integers(1, 9_999), st.sampled_from(["", "k", "M", "B", "T"]))
def test_counts_round_trip(n: int, suffix: str) -> None:
    from vramcalc.units import format_count_exact, parse_count

    value = parse_count(f"{n}{suffix}")
    assert parse_count(format_count_exact(value)) == value


# --------------------------------------------------------------------------- safetensors headers

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children,
                                                                                max_size=4)),
    max_leaves=20)
tensor_entries = st.fixed_dictionaries({
    "dtype": st.one_of(st.sampled_from(["F16", "BF16", "F32", "I8", "F4", "Q4", ""]), json_values),
    "shape": st.one_of(st.lists(st.integers(-2, 2**64), max_size=6), json_values),
    "data_offsets": st.one_of(st.lists(st.integers(-2, 2**64), min_size=0, max_size=3), json_values),
})
headers = st.dictionaries(st.text(max_size=10), st.one_of(tensor_entries, json_values), max_size=6)


@FAST
@given(st.one_of(headers.map(lambda h: json.dumps(h).encode()), st.binary(max_size=300)),
       st.one_of(st.none(), st.integers(0, 2**40)))
def test_safetensors_header_raises_only_source_errors(raw: bytes, size: int | None) -> None:
    from vramcalc.readers.safetensors_header import header_length, parse_safetensors_header

    try:
        header_length(struct.pack("<Q", len(raw)) + raw[:8], name="fuzz", file_size=size)
        parse_safetensors_header(raw, name="fuzz", file_size=size)
    except VramcalcError:
        pass


# --------------------------------------------------------------------------- GGUF headers

_SCALAR_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@st.composite
def gguf_files(draw: st.DrawFn) -> bytes:
    """A GGUF whose every count, length, type and offset is drawn: mostly well-formed, often not."""
    def u64() -> int:
        return draw(st.one_of(st.integers(0, 8), st.integers(0, 2**64 - 1)))

    def text(s: str) -> bytes:
        return struct.pack("<Q", draw(st.one_of(st.just(len(s)), st.integers(0, 2**64 - 1)))) + s.encode()

    kvs = draw(st.lists(st.tuples(st.sampled_from(["general.alignment", "general.architecture", "llama.block_count",
                                                   "tokenizer.ggml.tokens", "x"]),
                                  st.integers(-1, 14), st.integers(0, 2**64 - 1), st.binary(max_size=24)),
                        max_size=5))
    out = b"GGUF" + struct.pack("<I", draw(st.sampled_from([3, 2, 1, 99])))
    n_tensors = draw(st.integers(0, 3))
    out += struct.pack("<QQ", draw(st.one_of(st.just(n_tensors), st.integers(0, 2**64 - 1))),
                       draw(st.one_of(st.just(len(kvs)), st.integers(0, 2**64 - 1))))
    for key, vtype, number, blob in kvs:
        out += text(key) + struct.pack("<i", vtype)
        if vtype in _SCALAR_FMT:
            fmt = _SCALAR_FMT[vtype]
            out += struct.pack(fmt, draw(st.floats(allow_nan=True, width=32)) if fmt in ("<f", "<d")
                               else number % (2 ** (8 * struct.calcsize(fmt) - 1)))
        elif vtype == 8:
            out += text(blob.decode("latin-1"))
        elif vtype == 9:
            out += struct.pack("<iQ", draw(st.integers(-1, 13)), u64()) + blob
        else:
            out += blob
    for i in range(n_tensors):
        dims = draw(st.lists(st.integers(-1, 2**20), max_size=5))
        out += text(f"t{i}") + struct.pack("<I", len(dims)) + b"".join(struct.pack("<q", d) for d in dims)
        out += struct.pack("<iQ", draw(st.sampled_from([0, 1, 8, 12, 30, 99, -1])), u64())
    return out + draw(st.binary(max_size=64))


@FAST
@given(gguf_files(), st.booleans())
def test_gguf_header_raises_only_source_errors(data: bytes, ranged: bool) -> None:
    from vramcalc.readers.gguf import NeedMoreBytes, parse_gguf_prefix

    def read_at(offset: int, n: int) -> bytes:
        return data[offset:offset + n]

    t0 = time.perf_counter()
    try:
        parse_gguf_prefix(data if not ranged else data[:16], name="fuzz", file_size=len(data),
                          read_at=read_at if ranged else None)
    except (VramcalcError, NeedMoreBytes):
        pass
    assert time.perf_counter() - t0 < 1


# --------------------------------------------------------------------------- config.json

_FIELDS = ["model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
           "vocab_size", "intermediate_size", "max_position_embeddings", "num_experts", "num_local_experts",
           "num_experts_per_tok", "moe_intermediate_size", "sliding_window", "layer_types", "rope_scaling",
           "tie_word_embeddings", "torch_dtype", "kv_lora_rank", "q_lora_rank", "pad_token_id", "num_labels",
           "sliding_window_pattern", "max_window_layers", "decoder_sparse_step", "moe_topk", "mlp_only_layers",
           "no_rope_layers", "num_decoder_layers", "vision_config", "text_config", "quantization_config",
           "architectures", "use_sliding_window", "attention_chunk_size", "d_model", "d_kv", "num_layers", "id2label",
           "projection_dim"]
_TYPES = ["llama", "qwen2_moe", "qwen3_moe", "mixtral", "deepseek_v3", "gemma3", "gemma3_text", "t5", "roberta",
          "bert", "gpt2", "llama4_text", "gpt_oss", "clip", "phi3", "falcon", "opt", "bloom", "unknown"]
config_values = st.one_of(st.integers(-3, 70), st.integers(0, 2**70), st.floats(allow_nan=True), st.none(),
                          st.booleans(), st.text(max_size=6), st.sampled_from(_TYPES),
                          st.lists(st.integers(-1, 70), max_size=4), json_values)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_FIELDS), config_values, max_size=12), st.sampled_from(_TYPES))
def test_config_json_raises_only_vramcalc_errors(fields: dict[str, object], model_type: str) -> None:
    from vramcalc.readers.config_json import inventory_from_config

    config = {"model_type": model_type, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "vocab_size": 128, "intermediate_size": 128, **fields}
    t0 = time.perf_counter()
    try:
        inventory_from_config(config, "fuzz")
    except VramcalcError:
        pass
    assert time.perf_counter() - t0 < 5


# --------------------------------------------------------------------------- formats TOML

_TOML_KEYS = ["name", "family", "payload_bits", "block_size", "ggml_type", "llama_ftype", "base_type", "aliases",
              "storage_dtypes", "stored_as", "nominal_bits", "fallback", "quantizes"]
toml_values = st.one_of(st.integers(-5, 2**40).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
                        st.sampled_from(['"int"', '"gguf_type"', '"gguf_mix"', '"Q4_K"', '"x y"', '""', "[]",
                                         '["a", "a"]', "{ 2 = 1 }", "nan", "inf", '"all"', "true"]),
                        st.text(max_size=6).map(json.dumps))


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(_TOML_KEYS), toml_values, max_size=6), max_size=3),
       st.text(max_size=30))
def test_formats_toml_raises_only_registry_errors(tmp_path_factory: pytest.TempPathFactory,
                                                  entries: list[dict[str, str]], junk: str) -> None:
    from vramcalc.registry import load_registry

    text = "".join("[[format]]\n" + "".join(f"{k} = {v}\n" for k, v in e.items()) for e in entries) + junk
    path = Path(tmp_path_factory.mktemp("toml")) / "f.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))  # lone surrogates: bytes that are not UTF-8
    try:
        registry = load_registry([path])
    except VramcalcError:
        return
    for spec in registry:  # what validates can be priced
        if spec.payload_bits is not None:
            assert spec.bits_per_weight > 0
