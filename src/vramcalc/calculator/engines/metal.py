"""llama.cpp on Apple silicon (the Metal backend): the same GGUF weights, KV cache and ggml compute buffer as the
CUDA build, in unified memory — no CUDA context, and the GPU may use only the share of RAM macOS allows it
(`recommendedMaxWorkingSetSize`, from the GPU catalog with its source). What llama.cpp keeps in host buffers (token
embeddings, the output buffer, layers not offloaded) comes out of the same RAM, beside macOS and other programs.

`vramcalc fit` runs rows under this profile when the GPU named has unified memory and the engine is auto or llama.cpp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from vramcalc.calculator.engines.base import RowWeights, RuntimeEstimate, RuntimeRequest
from vramcalc.calculator.engines.llamacpp import LlamaCppProfile

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture


class MetalProfile(LlamaCppProfile):
    name = "llama.cpp-metal"
    label = ("llama.cpp on Apple silicon (Metal): GGUF weights, f16 KV padded to 256 cells, ggml compute buffer, in "
             "the GPU's share of unified memory; no CUDA context")
    chosen_by_device = True  # picked for a unified-memory GPU, not by --engine
    options: ClassVar[tuple[str, ...]] = ()  # llama.cpp's own (-ngl, -ub, -fa): the variant is chosen by the GPU

    def memory(self, arch: Architecture | None, w: RowWeights, r: RuntimeRequest) -> RuntimeEstimate:
        est = super().memory(arch, w, r)
        est.engine = self.name
        context = est.parts.pop("cuda_context", 0)
        est.overhead_bytes -= context
        est.heuristics = [h for h in est.heuristics if h.name != "llamacpp_cuda_context"]
        est.explain.append(
            f"llama.cpp-metal: no CUDA context ({context:,} B on a CUDA device); weights, KV and the compute buffer "
            "count against the GPU's share of unified memory, host buffers against the rest of RAM")
        return est
