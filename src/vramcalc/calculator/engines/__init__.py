"""Runtime memory per engine: KV cache, activations and overhead on top of the weights.

One module per engine, each an `EngineProfile` (its options, KV cache types, memory model, multi-GPU split); adding
an engine is a module and a line in PROFILES. Every constant is a `Heuristic` with its source, listed by --explain.

    est = runtime_memory(arch, weight_bytes, RuntimeRequest(engine="vllm", context=8192))
    est.total_bytes, est.parts, est.kv_capacity_tokens, est.max_concurrency
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vramcalc.calculator.engines.base import EngineProfile, RowWeights, RuntimeEstimate, RuntimeRequest
from vramcalc.calculator.engines.llamacpp import LlamaCppProfile
from vramcalc.calculator.engines.metal import MetalProfile
from vramcalc.calculator.engines.transformers import TransformersProfile
from vramcalc.calculator.engines.vllm import VllmProfile
from vramcalc.errors import UsageError

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture

__all__ = ["ENGINES", "PROFILES", "EngineProfile", "RowWeights", "RuntimeEstimate", "RuntimeRequest",
           "architecture_from_flags", "profile", "runtime_memory"]

PROFILES: dict[str, EngineProfile] = {p.name: p for p in (TransformersProfile(), VllmProfile(), LlamaCppProfile(),
                                                          MetalProfile())}
ENGINES = tuple(PROFILES)


def profile(name: str) -> EngineProfile:
    if name not in PROFILES:
        raise UsageError(f"unknown engine {name!r}", f"choose one of: {', '.join(ENGINES)}")
    return PROFILES[name]


def runtime_memory(arch: Architecture | None, weight_bytes: int, request: RuntimeRequest, *,
                   act_bytes: int = 2, embedding_bytes: int = 0, output_bytes: int = 0,
                   largest_tensor_bytes: int = 0, expert_bytes: int = 0) -> RuntimeEstimate:
    """GPU memory besides the weights (KV, activations, overhead), and which weights the GPU holds (see RowWeights
    for the keyword arguments)."""
    request.validate()
    engine = profile(request.engine)
    est = engine.memory(arch, RowWeights(weight_bytes, act_bytes, embedding_bytes, output_bytes,
                                         largest_tensor_bytes, expert_bytes), request)
    est.label = engine.label
    if arch is not None and arch.is_encoder:
        est.label = f"{request.engine}: one forward pass of an encoder-only model (no KV cache)"
    warning = arch.context_warning(request.context) if arch is not None else None
    if warning:
        est.warnings.append(warning)
    return est


def architecture_from_flags(layers: int, kv_heads: int, head_dim: int, heads: int | None = None,
                            hidden: int | None = None, vocab: int = 128_256) -> Architecture:
    """A minimal architecture for a bare parameter count, from --layers/--kv-heads/--head-dim."""
    from vramcalc.architecture import Architecture, Attention

    for name, value in (("--layers", layers), ("--kv-heads", kv_heads), ("--head-dim", head_dim)):
        if value <= 0:
            raise UsageError(f"{name} must be positive", "e.g. --layers 32 --kv-heads 8 --head-dim 128")
    heads = heads or kv_heads
    if heads % kv_heads:
        raise UsageError(f"{heads} attention heads are not a multiple of {kv_heads} KV heads",
                         "check --heads and --kv-heads")
    hidden = hidden or heads * head_dim
    return Architecture(model_type="flags", hidden_size=hidden, num_layers=layers, vocab_size=vocab,
                        layers=[Attention(num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim)] * layers)
