"""Every heuristic constant vramcalc uses: a name, a value, a unit and where it comes from.

Nothing here is fitted to make a test pass; each is a measurement or a documented engine default,
and `--explain` prints the ones a calculation used.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heuristic:
    name: str
    value: float
    unit: str
    source: str

    def as_int(self) -> int:
        return int(self.value)


# NVML "used" after CUDA init and one bf16 matmul, minus the bytes the torch allocator had reserved:
# the CUDA context, kernels and cuBLAS workspace a PyTorch process holds outside torch's allocator.
CUDA_CONTEXT = Heuristic(
    "cuda_context",
    1_324_154_880 - 102_760_448,
    "bytes",
    "measured: NVML used after CUDA init + one bf16 matmul, less torch reserved; H100 80GB, torch 2.11, "
    "shared/measurements/h100-transformers.jsonl (context_after_matmul)",
)
