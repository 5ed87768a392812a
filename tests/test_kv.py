"""KV cache per attention kind and engine, against hand-computed bytes (the arithmetic is written out)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramcalc.architecture import Architecture, Attention, architecture_from_config
from vramcalc.calculator.kv import (
    check_kv_dtype,
    kv_bits,
    kv_bytes_per_token,
    kv_cache_bytes,
    layer_tokens,
    prefill_storage_bytes,
)
from vramcalc.errors import UsageError
from vramcalc.registry import load_registry

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "configs"


def _arch(layers: list[Attention], model_type: str = "test") -> Architecture:
    return Architecture(model_type=model_type, hidden_size=4096, num_layers=len(layers), vocab_size=32000,
                        layers=layers)


def _config(name: str) -> Architecture:
    return architecture_from_config(json.loads((EXAMPLES / name / "config.json").read_text()))


def test_mha_gqa_mqa() -> None:
    # 32 layers, head_dim 128, bf16: K and V per KV head per token per layer
    for kv_heads in (32, 8, 1):
        arch = _arch([Attention(num_heads=32, num_kv_heads=kv_heads, head_dim=128)] * 32)
        assert kv_cache_bytes(arch, 1000, 3, "bf16") == 32 * kv_heads * 2 * 128 * 2 * 1000 * 3


def test_v_head_dim_differs_from_k() -> None:
    arch = _arch([Attention(num_heads=8, num_kv_heads=2, head_dim=192, v_head_dim=128)] * 4)
    assert kv_cache_bytes(arch, 10, 1, "fp16") == 4 * 2 * (192 + 128) * 2 * 10


def test_llama_31_8b_config() -> None:
    # 128 KiB per token: 32 layers × 8 KV heads × 128 × 2 (K, V) × 2 bytes — the published figure
    arch = _config("llama-3.1-8b")
    assert kv_bytes_per_token(arch, "bf16") == 131072
    assert kv_cache_bytes(arch, 8192, 1, "bf16") == 1 << 30


def test_mla_latent_in_every_engine() -> None:
    # DeepSeek-V3: 61 layers × (kv_lora_rank 512 + rope 64) × 2 bytes per token. transformers 5.17 caches the
    # compressed latent too (modeling_deepseek_v3: "Cache read / write is performed while latent KV is still
    # compressed"); vLLM pages it in blocks of 16.
    ds = _config("deepseek-v3")
    assert kv_cache_bytes(ds, 1000, 1, "bf16", "transformers") == 61 * 576 * 2 * 1000
    assert kv_cache_bytes(ds, 1000, 1, "bf16", "llama.cpp") == 61 * 576 * 2 * 1000
    assert kv_cache_bytes(ds, 1000, 1, "bf16", "vllm") == 61 * 576 * 2 * 1008
    # a model class that still expands per head (deepseek_v32 in transformers 5.17): 128 heads × (192 + 128)
    v32 = ds.model_copy(update={"model_type": "deepseek_v32"})
    assert kv_cache_bytes(v32, 1000, 1, "bf16", "transformers") == 61 * 128 * (192 + 128) * 2 * 1000
    assert kv_cache_bytes(v32, 1000, 1, "bf16", "vllm") == 61 * 576 * 2 * 1008


def test_sliding_window_per_engine() -> None:
    # Gemma-2-9B: 42 layers alternating sliding (4096) / full, 8 KV heads × 256, bf16
    g2 = _config("gemma-2-9b")
    per_layer_token = 8 * 256 * 2 * 2
    assert [a.kind for a in g2.layers[:2]] == ["sliding", "full"]
    # transformers keeps window − 1 tokens in sliding layers (DynamicSlidingWindowLayer: full[:, :, -w + 1:])
    assert kv_cache_bytes(g2, 8192, 1, "bf16", "transformers") == 21 * per_layer_token * (8192 + 4095)
    # … but right after the prefill the window is a view of the prompt-length tensor, which stays allocated
    assert prefill_storage_bytes(g2, 8192, 1, "bf16") == 42 * per_layer_token * 8192
    # below the window nothing is dropped
    assert kv_cache_bytes(g2, 1000, 1, "bf16", "transformers") == 42 * per_layer_token * 1000
    # vLLM: cdiv(min(w − 1 + max_num_batched_tokens, tokens), 16) + 1 pages for sliding layers
    pages = -(-min(4095 + 2048, 32768) // 16) + 1
    assert kv_cache_bytes(g2, 32768, 1, "bf16", "vllm", max_num_batched_tokens=2048) == \
        21 * per_layer_token * 32768 + 21 * per_layer_token * pages * 16
    # llama.cpp: min(n_ctx, pad(window + n_ubatch, 256)) cells in the SWA cache
    assert kv_cache_bytes(g2, 32768, 1, "f16", "llama.cpp", n_ubatch=512) == \
        21 * per_layer_token * 32768 + 21 * per_layer_token * 4608


def test_chunked_and_stateful_layers() -> None:
    chunked = Attention(kind="chunked", num_heads=40, num_kv_heads=8, head_dim=128, window=8192)
    full = Attention(num_heads=40, num_kv_heads=8, head_dim=128)
    arch = _arch([chunked, chunked, chunked, full])  # Llama-4 style: 3 chunked layers per global one
    assert layer_tokens(chunked, 100_000, "transformers") == 8191
    assert layer_tokens(chunked, 100_000, "vllm", max_num_batched_tokens=8192) == 16384
    assert layer_tokens(chunked, 100, "vllm") == 112
    assert kv_cache_bytes(arch, 100_000, 1, "bf16") == 8 * 256 * 2 * (3 * 8191 + 100_000)
    # Mamba / linear attention: a constant state per sequence, whatever the context
    mamba = Attention(kind="mamba", num_heads=0, num_kv_heads=0, head_dim=0, state_bytes_per_seq=1_000_000)
    hybrid = _arch([mamba] * 3 + [full])
    for tokens in (10, 10_000):
        assert kv_cache_bytes(hybrid, tokens, 2, "bf16") == 2 * (3 * 1_000_000 + 8 * 256 * 2 * tokens)


def test_kv_dtypes_from_the_registry() -> None:
    reg = load_registry()
    # q8_0 = 34-byte blocks of 32 = 8.5 bits; q4_0 = 18/32 = 4.5; q4_1 = 20/32; q5_0 = 22/32; q5_1 = 24/32
    for name, bits in (("q8_0", 8.5), ("q4_0", 4.5), ("q4_1", 5), ("q5_0", 5.5), ("q5_1", 6), ("iq4_nl", 4.5)):
        assert kv_bits(name) == bits == reg.get(name.upper()).bits_per_weight
    assert kv_bits("fp8") == 8 and kv_bits("f16") == kv_bits("bfloat16") == 16 and kv_bits("fp32") == 32
    arch = _arch([Attention(num_heads=32, num_kv_heads=8, head_dim=128)] * 32)
    assert kv_cache_bytes(arch, 4096, 1, "q8_0", "llama.cpp") == 32 * 8 * 256 * 4096 * 17 // 16
    assert kv_cache_bytes(arch, 4096, 1, "q4_0", "llama.cpp") == 32 * 8 * 256 * 4096 * 9 // 16


def test_engine_dtype_rules() -> None:
    assert check_kv_dtype("F16", "llama.cpp") == "fp16"
    assert check_kv_dtype("fp8_e5m2", "vllm") == "fp8_e5m2"
    with pytest.raises(UsageError, match="choose one of: f32, f16, bf16, q8_0"):
        check_kv_dtype("fp8", "llama.cpp")
    with pytest.raises(UsageError, match="vllm cannot store"):
        check_kv_dtype("q4_0", "vllm")
    with pytest.raises(UsageError, match="unknown KV cache dtype 'q7_k'"):
        kv_bits("q7_k")


@given(tokens=st.integers(1, 200_000), batch=st.integers(1, 64),
       dtype=st.sampled_from(["fp32", "bf16", "fp8", "q8_0", "q4_0"]))
def test_kv_grows_with_tokens_batch_and_bits(tokens: int, batch: int, dtype: str) -> None:
    g2 = _config("gemma-2-9b")
    for engine in ("transformers", "vllm", "llama.cpp"):
        a = kv_cache_bytes(g2, tokens, batch, dtype, engine)
        assert kv_cache_bytes(g2, tokens + 1, batch, dtype, engine) >= a
        assert kv_cache_bytes(g2, tokens, batch + 1, dtype, engine) > a
    assert kv_cache_bytes(g2, tokens, batch, "fp32") >= kv_cache_bytes(g2, tokens, batch, dtype)
    full = kv_bytes_per_token(g2, dtype) * tokens * batch
    assert kv_cache_bytes(g2, tokens, batch, dtype) <= full + 1  # windows only ever save
    assert Fraction(kv_cache_bytes(g2, tokens, batch, dtype)) >= full / 2


def test_a_formats_file_prices_the_kv_cache_everywhere(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--formats redefining q8_0 (a fp32 scale per block of 32: 9 bits, not 8.5) reaches every KV sum: estimate's
    rows, the runtime's per-layer split and fit's plans — not only the weights."""
    from tests.cli_helpers import run_cli

    custom = tmp_path / "formats.toml"
    custom.write_text('[[format]]\nname = "Q8_0"\nfamily = "gguf_type"\npayload_bits = 8\nblock_size = 32\n'
                      'overhead = [{ name = "fp32 scale", bits = 32, per = "block" }]\nggml_type = 8\n'
                      'llama_ftype = 7\nquantizes = "linear"\nkeep_dtype = "F32"\n')
    config = str(EXAMPLES / "llama-3.1-8b" / "config.json")
    common = ("--engine", "llama.cpp", "--kv-dtype", "q8_0", "--context", "8192", "--json")

    def estimate_kv(*extra: str) -> int:
        result = run_cli(capsys, "estimate", config, "--dtype", "Q4_K_M", *common, *extra)
        assert result.code == 0, result.err
        return int(result.json()["rows"][0]["kv_cache_bytes"])

    def fit_kv(*extra: str) -> int:
        result = run_cli(capsys, "fit", config, "--gpu-memory", "24GiB", "--dtype", "Q4_K_M", *common, *extra)
        assert result.code == 0, result.err
        return sum(int(g["kv_cache_bytes"]) for g in result.json()["rows"][0]["per_gpu"])

    for kv in (estimate_kv, fit_kv):
        shipped, custom_kv = kv(), kv("--formats", str(custom))
        assert shipped > 0 and custom_kv * 17 == shipped * 18  # 9 / 8.5 bits, to the byte
