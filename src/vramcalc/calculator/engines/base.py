"""What every engine profile shares: how the model is run (the request), what a profile answers (the estimate),
the weights it is handed, and the interface each engine module implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from vramcalc import heuristics as H
from vramcalc.calculator.kv import check_kv_dtype
from vramcalc.errors import UsageError

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.calculator import activations as A
    from vramcalc.calculator.gpu_fit import Split
    from vramcalc.registry import Registry


@dataclass
class RuntimeRequest:
    """How the model is run. `context` counts every cached token (prompt + generated) per sequence."""

    engine: str = "transformers"
    # the command's format registry (--formats): llama.cpp's quantized KV cache types are priced from it
    registry: Registry | None = field(default=None, repr=False, compare=False)
    context: int = H.DEFAULT_CONTEXT.as_int()
    batch: int = 1
    kv_dtype: str | None = None
    gpu_memory: int | None = None
    gpu_memory_utilization: float | None = None
    flash_attention: bool = True
    gpu_layers: int | None = None
    op_offload: bool = True  # llama.cpp: host weights' ops of large batches run on the GPU (--no-op-offload: off)
    cpu_moe_layers: int = 0  # llama.cpp --n-cpu-moe N: the routed experts of the first N layers stay in host memory
    n_ubatch: int = H.LLAMACPP_UBATCH.as_int()
    n_batch: int = H.LLAMACPP_BATCH.as_int()
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None

    def validate(self) -> None:
        from vramcalc.calculator.engines import profile

        profile(self.engine)  # an unknown engine is a usage error naming the known ones
        if self.context <= 0 or self.batch <= 0:
            raise UsageError("context and batch must be positive", "e.g. --context 8192 --batch 1")
        if self.kv_dtype is not None:
            check_kv_dtype(self.kv_dtype, self.engine, self.registry)
        if self.gpu_memory is not None and self.gpu_memory <= 0:
            raise UsageError("GPU memory must be positive", "e.g. --gpu-memory 80GB")
        if self.gpu_memory_utilization is not None and not 0 < self.gpu_memory_utilization <= 1:
            raise UsageError(f"gpu_memory_utilization {self.gpu_memory_utilization:g} is not in (0, 1]",
                             "e.g. --gpu-memory-utilization 0.9")
        if self.cpu_moe_layers < 0:
            raise UsageError("--n-cpu-moe must be 0 or more", "e.g. --n-cpu-moe 8")
        for name in ("n_ubatch", "n_batch", "max_num_batched_tokens", "max_num_seqs"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UsageError(f"{name} must be positive", f"e.g. {name} 512")


@dataclass
class RuntimeEstimate:
    """GPU memory of one engine run. `total_bytes` = weights on the GPU + KV + activations + overhead;
    `parts` names every addend of activations and overhead (bytes)."""

    engine: str
    kv_cache_bytes: int = 0
    activation_bytes: int = 0
    overhead_bytes: int = 0
    weights_on_gpu: int = 0
    host_bytes: int = 0
    kv_capacity_tokens: int | None = None
    max_concurrency: int | None = None
    peak_allocated_bytes: int | None = None
    peak_reserved_bytes: int | None = None
    process_bytes: int | None = None  # what the engine process holds on the GPU when it differs from the need (vLLM)
    kv_dtype: str | None = None
    label: str = ""
    parts: dict[str, int] = field(default_factory=dict)
    heuristics: list[H.Heuristic] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return self.weights_on_gpu + self.kv_cache_bytes + self.activation_bytes + self.overhead_bytes

    def _overhead(self, name: str, nbytes: int, h: H.Heuristic | None = None) -> None:
        self.parts[name] = nbytes
        self.overhead_bytes += nbytes
        if h is not None and h not in self.heuristics:
            self.heuristics.append(h)

    def _activations(self, peak: A.ActivationPeak) -> None:
        for part in peak.parts:
            self.parts[f"activations: {part.name}"] = part.nbytes
        self.activation_bytes = peak.nbytes
        self.heuristics += [h for h in peak.heuristics if h not in self.heuristics]
        self.explain += [f"{self.engine} activations ({peak.phase} peak) — {line}" for line in peak.explain()]




@dataclass(frozen=True)
class RowWeights:
    """What an engine model needs of a row's weights. act_bytes: bytes of the activation dtype (4 for an fp32 model,
    else 2); embedding_bytes / output_bytes: the token-embedding and output-layer bytes inside weight_bytes;
    largest_tensor_bytes: the largest weight tensor of the repeating layers (0: derived from the shapes);
    expert_bytes: the routed-expert tensors inside weight_bytes (what llama.cpp's -ot exps=CPU / --n-cpu-moe keep in
    host memory; 0: unknown or dense)."""

    weight_bytes: int
    act_bytes: int = 2
    embedding_bytes: int = 0
    output_bytes: int = 0
    largest_tensor_bytes: int = 0
    expert_bytes: int = 0


class EngineProfile(ABC):
    """One engine: its name, the CLI options only it reads, the KV cache types it can allocate, the memory it needs
    for a row, how it splits a model over GPUs and when a context still fits."""

    name: ClassVar[str]
    label: ClassVar[str]
    options: ClassVar[tuple[str, ...]] = ()  # CLI options no other engine reads
    kv_dtypes: ClassVar[tuple[str, ...]]
    default_kv_dtype: ClassVar[str | None] = None  # None: the model's activation dtype
    chosen_by_device: ClassVar[bool] = False  # True: picked for the GPU named (Apple's Metal), not by --engine

    @abstractmethod
    def memory(self, arch: Architecture | None, weights: RowWeights, request: RuntimeRequest) -> RuntimeEstimate:
        """GPU memory besides the weights (KV, activations, overhead), and which weights the GPU holds."""

    def utilization(self, request: RuntimeRequest) -> float:
        """The fraction of each GPU the engine may fill."""
        return 1.0

    def split(self, est: RuntimeEstimate, gpu_memory: int, arch: Architecture | None,
              request: RuntimeRequest) -> Split | None:
        """Whole layers per GPU (transformers' device_map="auto", llama.cpp's --split-mode layer); None: more than
        MAX_GPUS."""
        from vramcalc.calculator.gpu_fit import layer_split

        return layer_split(weights_on_gpu=est.weights_on_gpu, kv_bytes=est.kv_cache_bytes,
                           activation_bytes=est.activation_bytes, overhead_bytes=est.overhead_bytes,
                           gpu_memory=gpu_memory, arch=arch)

    def fits(self, est: RuntimeEstimate, request: RuntimeRequest, gpu_memory: int) -> bool:
        """Whether this run fits one GPU (the test the longest-context search bisects on)."""
        return est.total_bytes <= gpu_memory

    def kv_dtype(self, request: RuntimeRequest, act_bytes: int) -> str:
        """The cache type of this run: the one asked for, the engine's own default, or the activation dtype."""
        if request.kv_dtype:
            return check_kv_dtype(request.kv_dtype, self.name, request.registry)
        return self.default_kv_dtype or ("fp32" if act_bytes >= 4 else "bf16")


def no_architecture(est: RuntimeEstimate) -> RuntimeEstimate:
    est.notes.append("KV cache and activations need the architecture: give a config.json, checkpoint, GGUF or "
                     "Hub id, or pass --layers, --kv-heads and --head-dim")
    return est
