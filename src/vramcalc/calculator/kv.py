"""KV cache bytes, exactly, from the architecture: what each engine allocates per token and per layer.

Per layer and engine: which tokens are kept (all, a window, a chunk, none), and what one token costs (K and V per KV
head; MLA's single latent; nothing for Mamba/linear-attention layers, which keep a constant state per sequence).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import ceil
from typing import TYPE_CHECKING

from vramcalc import heuristics as H
from vramcalc.errors import UsageError

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture, Attention
    from vramcalc.registry import Registry

# KV element types: plain floats, and llama.cpp's block-quantized caches (priced from the registry's layouts).
FLOAT_KV_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "fp8_e4m3": 8, "fp8_e5m2": 8}
LLAMACPP_KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl")
KV_DTYPES = tuple(FLOAT_KV_BITS) + tuple(t for t in LLAMACPP_KV_TYPES if t not in ("f32", "f16", "bf16"))
_ALIASES = {"f32": "fp32", "f16": "fp16", "float16": "fp16", "bfloat16": "bf16", "float32": "fp32",
            "half": "fp16", "float": "fp32", "fp8_e4m3fn": "fp8_e4m3"}
VLLM_BLOCK = H.VLLM_BLOCK_SIZE.as_int()
# layers that keep no per-token cache: constant state (Mamba, linear attention), none, or an encoder's one pass
_NO_CACHE = ("linear", "mamba", "none", "encoder")
LLAMACPP_PAD = H.LLAMACPP_CTX_PAD.as_int()


def normalise_kv_dtype(kv_dtype: str) -> str:
    key = kv_dtype.strip().lower()
    return _ALIASES.get(key, key)


def kv_bits(kv_dtype: str, registry: Registry | None = None) -> Fraction:
    """Bits per cached element: 16 for fp16, 8.5 for q8_0 (34-byte blocks of 32), … Block-quantized caches are
    priced from `registry` (the caller's, with its --formats files; None: the shipped one and $VRAMCALC_FORMATS)."""
    key = normalise_kv_dtype(kv_dtype)
    if key in FLOAT_KV_BITS:
        return Fraction(FLOAT_KV_BITS[key])
    if key in LLAMACPP_KV_TYPES:
        if registry is None:
            return _default_bits(key)
        return Fraction(registry.get(key.upper()).bits_per_weight)
    raise UsageError(f"unknown KV cache dtype {kv_dtype!r}", f"choose one of: {', '.join(KV_DTYPES)}")


def _default_bits(key: str) -> Fraction:
    """A llama.cpp cache type's bits from the default registry, loaded once per $VRAMCALC_FORMATS (a model's every
    layer is priced with it: the registry is not read again for each)."""
    import os

    from vramcalc.registry import FORMATS_ENV

    return _registry_bits(key, os.environ.get(FORMATS_ENV, ""))


@lru_cache(maxsize=64)
def _registry_bits(key: str, formats_env: str) -> Fraction:
    from vramcalc.registry import load_registry

    del formats_env  # part of the cache key: load_registry reads it
    return Fraction(load_registry().get(key.upper()).bits_per_weight)


def check_kv_dtype(kv_dtype: str, engine: str, registry: Registry | None = None) -> str:
    """The normalised dtype, or a UsageError naming the dtypes this engine can allocate."""
    from vramcalc.calculator.engines import PROFILES  # each engine profile names the cache types it allocates

    kv_bits(kv_dtype, registry)
    key = normalise_kv_dtype(kv_dtype)
    allowed = PROFILES[engine].kv_dtypes if engine in PROFILES else KV_DTYPES
    llamacpp_name = {"fp32": "f32", "fp16": "f16"}.get(key, key)
    if key not in allowed and llamacpp_name not in allowed:
        raise UsageError(f"{engine} cannot store its KV cache as {kv_dtype!r}",
                         f"choose one of: {', '.join(allowed)}")
    return key


def caches_latent(layer: Attention, engine: str, model_type: str = "") -> bool:
    """MLA layers whose engine keeps the compressed latent rather than per-head K and V."""
    if not layer.kv_lora_rank:
        return False
    # transformers 5.17 caches MLA's compressed latent (kv_lora_rank + the shared rope key) for DeepSeek-V2/V3, Kimi,
    # GLM-4-MoE-Lite, MiniCPM3 …; some model classes still cache K and V expanded per head (their family says so)
    from vramcalc.models import family_of

    return not (engine == "transformers" and family_of(model_type).transformers_full_mla)


def layer_tokens(layer: Attention, tokens: int, engine: str, *,
                 max_num_batched_tokens: int = H.VLLM_MAX_NUM_BATCHED_TOKENS.as_int(),
                 n_ubatch: int = H.LLAMACPP_UBATCH.as_int()) -> int:
    """Tokens (cache slots) a layer holds for one sequence of `tokens` tokens.

    - transformers DynamicSlidingWindowLayer keeps the last window − 1 tokens (the new token completes the window);
    - vLLM pages every layer in blocks of 16; a sliding layer needs cdiv(min(window − 1 + max_num_batched_tokens,
      tokens), 16) + 1 pages (kv_cache_interface SlidingWindowSpec), a chunked one cdiv(min(chunk +
      max_num_batched_tokens, tokens), 16) pages;
    - llama.cpp's SWA cache has min(n_ctx, pad(window + n_ubatch, 256)) cells (llama_kv_cache_iswa).
    """
    if layer.kind in _NO_CACHE:
        return 0
    windowed = layer.kind in ("sliding", "chunked") and bool(layer.window)
    w = int(layer.window or 0)
    if engine == "vllm":
        if not windowed:
            return ceil(tokens / VLLM_BLOCK) * VLLM_BLOCK
        if layer.kind == "sliding":
            return (ceil(min(w - 1 + max_num_batched_tokens, tokens) / VLLM_BLOCK) + 1) * VLLM_BLOCK
        return ceil(min(w + max_num_batched_tokens, tokens) / VLLM_BLOCK) * VLLM_BLOCK
    if not windowed:
        return tokens
    if engine == "llama.cpp":
        return min(tokens, ceil((w + n_ubatch) / LLAMACPP_PAD) * LLAMACPP_PAD)
    return min(tokens, w - 1)


def layer_bytes_per_token(layer: Attention, engine: str, bits: Fraction, model_type: str = "") -> Fraction:
    """Cache bytes one token costs in one layer."""
    if layer.kind in _NO_CACHE:
        return Fraction(0)
    if caches_latent(layer, engine, model_type):
        # MLA: one latent (kv_lora_rank) + the shared rope key per token, not per head.
        return Fraction(int(layer.kv_lora_rank or 0) + (layer.qk_rope_head_dim or 0)) * bits / 8
    v_dim = layer.v_head_dim or layer.head_dim
    return Fraction(layer.num_kv_heads * (layer.head_dim + v_dim)) * bits / 8


def state_bytes(arch: Architecture, batch: int = 1) -> int:
    """Constant per-sequence state of Mamba / linear-attention layers (does not grow with the context)."""
    return sum(int(layer.state_bytes_per_seq or 0) for layer in arch.layers) * batch


def kv_cache_bytes(arch: Architecture, tokens: int, batch: int = 1, kv_dtype: str = "bf16",
                   engine: str = "transformers", *,
                   max_num_batched_tokens: int = H.VLLM_MAX_NUM_BATCHED_TOKENS.as_int(),
                   n_ubatch: int = H.LLAMACPP_UBATCH.as_int(),
                   registry: Registry | None = None) -> int:
    """KV bytes for `batch` sequences of `tokens` tokens each, as `engine` lays them out (+ constant states)."""
    bits = kv_bits(kv_dtype, registry)
    total = Fraction(0)
    for layer in arch.layers:
        slots = layer_tokens(layer, tokens, engine, max_num_batched_tokens=max_num_batched_tokens, n_ubatch=n_ubatch)
        total += layer_bytes_per_token(layer, engine, bits, arch.model_type) * slots
    return ceil(total * batch) + state_bytes(arch, batch)


def kv_bytes_per_token(arch: Architecture, kv_dtype: str = "bf16", engine: str = "transformers",
                       registry: Registry | None = None) -> Fraction:
    """Bytes one more token costs over all layers that grow with the context (windowed layers counted fully)."""
    bits = kv_bits(kv_dtype, registry)
    return sum((layer_bytes_per_token(layer, engine, bits, arch.model_type) for layer in arch.layers), Fraction(0))


def prefill_storage_bytes(arch: Architecture, tokens: int, batch: int = 1, kv_dtype: str = "bf16",
                          registry: Registry | None = None) -> int:
    """Bytes transformers' cache tensors occupy right after the prefill.

    DynamicSlidingWindowLayer keeps `full[:, :, -window + 1:]`, a view of the prompt-length tensor, so until the
    first decode step replaces it every sliding layer still pins the whole prompt's K and V.
    """
    bits = kv_bits(kv_dtype, registry)
    total = sum((layer_bytes_per_token(layer, "transformers", bits, arch.model_type) *
                 (0 if layer.kind in _NO_CACHE else tokens) for layer in arch.layers), Fraction(0))
    return ceil(total * batch) + state_bytes(arch, batch)
