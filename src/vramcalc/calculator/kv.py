"""KV cache bytes, exactly, from the architecture: what each engine allocates per token and per layer."""

from __future__ import annotations

from fractions import Fraction
from math import ceil
from typing import TYPE_CHECKING

from vramcalc.errors import UsageError

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture, Attention

# KV element types: plain floats, and llama.cpp's block-quantized caches (priced from the registry's layouts).
FLOAT_KV_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "fp8_e4m3": 8, "fp8_e5m2": 8}
LLAMACPP_KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl")
KV_DTYPES = tuple(FLOAT_KV_BITS) + tuple(t for t in LLAMACPP_KV_TYPES if t not in ("f32", "f16", "bf16"))


def kv_bits(kv_dtype: str) -> Fraction:
    """Bits per cached element: 16 for fp16, 8.5 for q8_0 (34-byte blocks of 32), …"""
    key = kv_dtype.lower()
    key = {"f32": "fp32", "f16": "fp16", "float16": "fp16", "bfloat16": "bf16", "float32": "fp32"}.get(key, key)
    if key in FLOAT_KV_BITS:
        return Fraction(FLOAT_KV_BITS[key])
    if key in LLAMACPP_KV_TYPES:
        from vramcalc.registry import load_registry

        return load_registry().get(key.upper()).bits_per_weight
    raise UsageError(f"unknown KV cache dtype {kv_dtype!r}", f"choose one of: {', '.join(KV_DTYPES)}")


def cached_tokens(layer: Attention, tokens: int, engine: str) -> int:
    """Tokens a layer keeps: all of them, or at most the window for sliding/chunked layers.

    transformers' DynamicSlidingWindowLayer keeps the last window − 1 tokens (the new token completes the
    window); vLLM and llama.cpp size sliding layers by the window.
    """
    if layer.kind in ("linear", "mamba", "none"):
        return 0
    if layer.kind in ("sliding", "chunked") and layer.window:
        return min(tokens, layer.window - 1 if engine == "transformers" else layer.window)
    return tokens


def layer_bytes_per_token(layer: Attention, engine: str, bits: Fraction) -> Fraction:
    """Cache bytes one token costs in one layer."""
    if layer.kind in ("linear", "mamba", "none"):
        return Fraction(0)
    if layer.kv_lora_rank and engine != "transformers":
        # MLA: one latent (kv_lora_rank) + the shared rope key per token, not per head (vLLM, llama.cpp).
        return Fraction(layer.kv_lora_rank + (layer.qk_rope_head_dim or 0)) * bits / 8
    v_dim = layer.v_head_dim or layer.head_dim
    return Fraction(layer.num_kv_heads * (layer.head_dim + v_dim)) * bits / 8


def kv_cache_bytes(arch: Architecture, tokens: int, batch: int = 1, kv_dtype: str = "bf16",
                   engine: str = "transformers") -> int:
    """KV bytes for `batch` sequences of `tokens` cached tokens each."""
    bits = kv_bits(kv_dtype)
    total = Fraction(0)
    for layer in arch.layers:
        total += layer_bytes_per_token(layer, engine, bits) * cached_tokens(layer, tokens, engine)
    state = sum(layer.state_bytes_per_seq or 0 for layer in arch.layers)
    return ceil(total * batch) + state * batch


def kv_bytes_per_token(arch: Architecture, kv_dtype: str = "bf16", engine: str = "transformers") -> Fraction:
    bits = kv_bits(kv_dtype)
    return sum((layer_bytes_per_token(layer, engine, bits) for layer in arch.layers), Fraction(0))
