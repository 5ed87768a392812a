"""Report models: the one object each command builds. The table renders it; `--json` dumps it.

Bytes and parameter counts are integers. `schema_version` changes when a field changes meaning or goes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Report(BaseModel):
    model_config = ConfigDict(defer_build=True)

SCHEMA_VERSION = 1


class HeuristicUse(_Report):
    name: str
    value: float
    unit: str
    source: str


class ModelSummary(_Report):
    source: str = Field(description="what the user asked about: a count, a label, a path or a repo id")
    kind: str = Field(description="count, label, safetensors, folder, hf-cache, hub, gguf or config")
    params: int = Field(description="total parameters (true count for packed quantized checkpoints)")
    active_params: int | None = Field(None, description="parameters used per token (MoE)")
    experts: int | None = None
    stored_bytes: int | None = Field(None, description="bytes of the tensors as stored, when read from files")
    stored_dtypes: dict[str, int] = Field({}, description="parameters per stored dtype")
    architecture: dict[str, Any] = {}


class ClassBreakdown(_Report):
    """Where a format row's bytes go, per tensor class."""

    tensor_class: str
    params: int
    bytes: int
    types: dict[str, int] = Field(description="storage type → parameters in it")


class FormatRow(_Report):
    format: str
    family: str
    engine: str | None = Field(None, description="the engine this row is priced for (transformers, vllm, "
                                                 "llama.cpp; diffusers for a pipeline)")
    params: int
    bits_per_weight: float = Field(description="weight bytes × 8 ÷ parameters, overhead of scales included")
    weight_bytes: int
    weights_on_gpu_bytes: int | None = Field(None, description="weights in VRAM (llama.cpp keeps the token "
                                                              "embeddings and layers not offloaded in host memory)")
    kv_cache_bytes: int = 0
    activation_bytes: int = 0
    overhead_bytes: int = Field(0, description="runtime overhead (CUDA context, allocator), see heuristics")
    total_bytes: int = Field(description="VRAM to hold the weights plus the parts above")
    file_bytes: int | None = Field(None, description="predicted file size (GGUF: header, metadata, padding)")
    host_bytes: int = Field(0, description="bytes the engine keeps in host memory (llama.cpp: embeddings, …)")
    process_bytes: int | None = Field(
        None, description="vLLM: what the process holds on the GPU (its whole gpu_memory_utilization budget + CUDA "
                          "graphs) — what nvidia-smi shows, whatever total_bytes the model needs")
    kv_capacity_tokens: int | None = Field(None, description="vLLM: tokens the KV budget holds")
    max_concurrency: int | None = Field(None, description="vLLM: sequences of --context that fit at once")
    gpus: int | None = Field(None, description="GPUs of --gpu-memory needed (None: not asked, or more than 64)")
    per_gpu_bytes: int | None = Field(None, description="bytes on each of those GPUs")
    gpu_split: str | None = Field(None, description="how the engine splits the model over them")
    max_context: int | None = Field(
        None, description="longest context (tokens per sequence, at --batch) that fits on one --gpu-memory GPU; "
                          "0: not even the weights; capped at the model's maximum")
    components: dict[str, int] = Field({}, description="diffusion pipelines: weight bytes per component")
    offload_peak_bytes: int | None = Field(
        None, description="pipelines: peak with model CPU offload (largest component + its activations + overhead)")
    kept: list[str] = Field([], description="what this format leaves unquantized, in plain words")
    breakdown: list[ClassBreakdown] = []


class ContextPoint(_Report):
    context: int
    totals: dict[str, int] = Field(description="format → total VRAM bytes at this context")


class BestFit(_Report):
    """The answer to "what fits one GPU of --gpu-memory", as fields and in words."""

    answer: str = Field(description="the answer in words (also among the notes)")
    format: str | None = Field(None, description="the most precise format that fits one GPU (or, when none does, "
                                                 "the one needing the fewest GPUs); None: nothing fits")
    gpus: int | None = Field(None, description="GPUs that format needs (1 when it fits one)")
    with_offload: str | None = Field(None, description="pipelines: the most precise format that fits with model "
                                                       "CPU offload, when more precise than `format`")


class EstimateReport(_Report):
    schema_version: int = SCHEMA_VERSION
    command: Literal["estimate"] = "estimate"
    model: ModelSummary
    units: Literal["gb", "gib"] = "gb"
    engine: str = Field("transformers", description="the rows' engine, or 'per row' when they differ")
    kv_cache: bool = Field(True, description="whether a KV cache applies (False: a bare count without its "
                                             "architecture, an encoder, a diffusion pipeline)")
    context: int = Field(4096, description="tokens per sequence the KV cache and activations are sized for")
    context_given: bool = Field(False, description="False: the default (4096, or the model's maximum if smaller)")
    batch: int = 1
    kv_dtype: str | None = Field(None, description="KV cache dtype (None: the engine's default)")
    best_fit: BestFit | None = Field(None, description="with --gpu-memory/--gpu: the format that fits")
    gpu_memory: int | None = Field(None, description="bytes per GPU given with --gpu-memory (or --gpu's device)")
    gpu: str | None = Field(None, description="the catalog device named with --gpu (vramcalc gpus)")
    gpu_count: int | None = Field(None, description="how many of them --gpu names (2xA100-80GB: 2)")
    rows: list[FormatRow]
    context_sweep: list[ContextPoint] = []
    warnings: list[str] = Field([], description="printed on stderr")
    heuristics: list[HeuristicUse] = []
    notes: list[str] = Field([], description="plain-words remarks about the result")
    explain: list[str] = Field([], description="the arithmetic, line by line (filled with --explain)")


class FormatEntry(_Report):
    name: str
    aliases: list[str]
    family: str
    bits_per_weight: float | None = Field(description="asymptotic bits per weight from the layout")
    bits_per_weight_exact: str | None = Field(description="the same as an exact fraction, e.g. '17/2'")
    block_size: int | None
    block_bytes: float | None
    layout: str
    quantizes: str
    keeps: str
    base_type: str | None = None
    typical_bits_per_weight: float | None = Field(
        None, description="llama.cpp file types: bits per weight of a whole file of the representative decoder at "
                          "typical_at_params (llama-quantize's per-tensor rules: the output in Q6_K, norms in F32 …) "
                          "— what `estimate <count>-<name>` prices at that count")
    typical_at_params: int | None = Field(None, description="the parameter count typical_bits_per_weight is for")
    nominal_bits: float | None = Field(None, description="bits a value carries when stored in a wider container")
    stored_as: dict[int, float] = Field({}, description="nominal width → bits it is stored in (HQQ 3 → 8 …)")
    value_range: str | None = Field(None, description="integers: the values an element can hold")
    notes: str
    source: str


class FormatsReport(_Report):
    schema_version: int = SCHEMA_VERSION
    command: Literal["formats"] = "formats"
    registry_files: list[str]
    formats: list[FormatEntry]


# command → "module:Class" of its --json report; resolved on demand so start-up imports none of them.
REPORTS: dict[str, str] = {
    "estimate": "vramcalc.reports:EstimateReport",
    "formats": "vramcalc.reports:FormatsReport",
    "compare": "vramcalc.compare_report:CompareReport",
    "inspect": "vramcalc.inspect_report:InspectReport",
    "train": "vramcalc.train_report:TrainReport",
    "gpus": "vramcalc.gpus_report:GpusReport",
    "fit": "vramcalc.fit_report:FitReport",
}


def report_model(command: str) -> type[BaseModel]:
    import importlib

    module, _, name = REPORTS[command].partition(":")
    model = getattr(importlib.import_module(module), name)
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model
