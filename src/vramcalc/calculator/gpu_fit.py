"""Fitting a model on GPUs: how many of a given size a row needs (split the way its engine splits a model), and
the longest context that still fits on one.

vLLM shards every layer (tensor parallel): each GPU holds 1/n of the weights and of the activations, and the KV
heads are divided among the GPUs, replicated once n exceeds the KV heads (an MLA latent has no heads to divide,
so every GPU holds all of it); n must divide the attention heads. transformers (`device_map="auto"`) and llama.cpp
(`--split-mode layer`, the default) give each GPU whole layers: weights and KV split, while every GPU runs its own
layers' activations at the full width. Each GPU pays the per-process overhead (CUDA context, engine buffers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture

MAX_GPUS = 64  # nodes of 8 × 8: past that the answer is "a cluster", not a count


@dataclass(frozen=True)
class Split:
    gpus: int
    per_gpu_bytes: int  # an even share of what splits, plus what every GPU holds in full
    how: str


def _kv_share(kv: int, n: int, arch: Architecture | None) -> int:
    if arch is None or not arch.layers:
        return -(-kv // n)
    if arch.is_mla:
        return kv
    kv_heads = min(a.num_kv_heads for a in arch.layers) or 1
    return -(-kv // min(n, kv_heads))


def _tp_degrees(arch: Architecture | None) -> list[int]:
    if arch is None or not arch.layers:
        return [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= MAX_GPUS]
    heads = arch.layers[0].num_heads
    return [n for n in range(1, MAX_GPUS + 1) if heads % n == 0]


def split_over_gpus(*, weights_on_gpu: int, kv_bytes: int, activation_bytes: int, overhead_bytes: int,
                    gpu_memory: int, engine: str, arch: Architecture | None = None,
                    utilization: float = 1.0) -> Split | None:
    """The fewest GPUs of `gpu_memory` bytes that hold the row, split the way `engine` splits a model (vLLM: tensor
    parallel; the others: whole layers), or None when MAX_GPUS do not.

    utilization: the fraction of each GPU the engine may use (vLLM's gpu_memory_utilization).
    """
    split = tensor_parallel_split if engine == "vllm" else layer_split
    return split(weights_on_gpu=weights_on_gpu, kv_bytes=kv_bytes, activation_bytes=activation_bytes,
                 overhead_bytes=overhead_bytes, gpu_memory=gpu_memory, arch=arch, utilization=utilization)


def tensor_parallel_split(*, weights_on_gpu: int, kv_bytes: int, activation_bytes: int, overhead_bytes: int,
                          gpu_memory: int, arch: Architecture | None = None, utilization: float = 1.0
                          ) -> Split | None:
    """vLLM: every GPU holds 1/n of each layer (n dividing the attention heads)."""
    limit = int(gpu_memory * utilization)
    for n in _tp_degrees(arch):
        per_gpu = (-(-weights_on_gpu // n) + -(-activation_bytes // n) + _kv_share(kv_bytes, n, arch)
                   + overhead_bytes)
        if per_gpu <= limit:
            return Split(n, per_gpu, "tensor parallel" if n > 1 else "one GPU")
    return None


def layer_split(*, weights_on_gpu: int, kv_bytes: int, activation_bytes: int, overhead_bytes: int,
                gpu_memory: int, arch: Architecture | None = None, utilization: float = 1.0) -> Split | None:
    """transformers' device_map="auto" and llama.cpp's --split-mode layer: whole layers per GPU, each running its
    layers' activations at full width."""
    limit = int(gpu_memory * utilization)
    layers = arch.num_layers if arch is not None else MAX_GPUS
    for n in range(1, min(layers, MAX_GPUS) + 1):
        per_gpu = -(-weights_on_gpu // n) + -(-kv_bytes // n) + activation_bytes + overhead_bytes
        if per_gpu <= limit:
            return Split(n, per_gpu, "layers split across GPUs" if n > 1 else "one GPU")
    return None


def pack_components(stages: list[tuple[int, int]], overhead_bytes: int, gpu_memory: int) -> Split | None:
    """A diffusion pipeline over GPUs as diffusers' device_map="balanced" places it: whole components per GPU.
    stages: (weight bytes, activation bytes) per component; a GPU holds its components' weights, the largest of
    their stages' activations (stages run one after another) and the per-process overhead. First-fit decreasing."""
    bins: list[tuple[int, int]] = []  # (weights, largest activation) per GPU
    for weights, act in sorted(stages, key=lambda s: -(s[0] + s[1])):
        if overhead_bytes + weights + act > gpu_memory:
            return None
        for i, (w, a) in enumerate(bins):
            if overhead_bytes + w + weights + max(a, act) <= gpu_memory:
                bins[i] = (w + weights, max(a, act))
                break
        else:
            bins.append((weights, act))
    if len(bins) > MAX_GPUS:
        return None
    per_gpu = max((overhead_bytes + w + a for w, a in bins), default=overhead_bytes)
    return Split(len(bins), per_gpu, "whole components per GPU (device_map=\"balanced\")" if len(bins) > 1
                 else "one GPU")


def largest_context(fits: Callable[[int], bool], ceiling: int) -> int:
    """The largest context in [1, ceiling] for which `fits` holds (memory only grows with context), 0 if none.

    A bisection: ~20 evaluations of the engine model for a 1M-token ceiling.
    """
    from vramcalc.calculator.bisect import largest

    return largest(fits, 1, ceiling) or 0
