"""The Python API: the same report objects `--json` prints, from Python.

    from vramcalc import estimate, inspect, compare, fit, train
    report = estimate("meta-llama/Llama-3.1-8B", formats=["bf16", "Q4_K_M"], context="8k", gpu="RTX 4090")
    report.rows[0].total_bytes, report.best_fit

Each function takes what the command-line takes (sizes and contexts as numbers or as the strings the CLI reads:
"24GiB", "8k,32k", "max"), raises `vramcalc.errors.VramcalcError` subclasses for bad input, and never prints. The
CLI commands are thin wrappers around these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vramcalc.compare_report import CompareReport
    from vramcalc.fit_report import FitReport
    from vramcalc.gpu_catalog import GpuSelection
    from vramcalc.gpus_report import GpusReport
    from vramcalc.inspect_report import InspectReport
    from vramcalc.reports import EstimateReport, FormatsReport
    from vramcalc.train_report import TrainReport

Progress = Callable[[int, int], None]


def _contexts(context: int | str | Sequence[int | str] | None) -> list[int | str]:
    from vramcalc.errors import UsageError
    from vramcalc.units import parse_context

    if context is None:
        return []
    items = context.split(",") if isinstance(context, str) else [context] if isinstance(context, int) else context
    out: list[int | str] = []
    for c in items:
        text = str(c).strip()
        if text:
            out.append("max" if text.lower() == "max" else parse_context(text))
    if not out:
        raise UsageError("empty --context", "write --context 8192, --context 4k,8k,32k or --context max")
    return out


def gpu_capacity(gpu: str | None, gpu_memory: int | str | None, gpu_files: Sequence[Path] | None = None
                 ) -> tuple[GpuSelection | None, int | None]:
    """A GPU by name ("RTX 4090", "2xA100-80GB") or its memory ("24GiB", or bytes), not both → (the catalog device
    if named, bytes per GPU)."""
    from vramcalc.errors import UsageError

    if gpu is not None and gpu_memory is not None:
        raise UsageError("--gpu and --gpu-memory both give the GPU's memory", "give one of them")
    if gpu is not None:
        from vramcalc.gpu_catalog import load_catalog, parse_gpu

        selection = parse_gpu(gpu, load_catalog(list(gpu_files or []) or None))
        return selection, selection.per_gpu_bytes
    if isinstance(gpu_memory, str):
        from vramcalc.units import parse_size

        return None, parse_size(gpu_memory, "--gpu-memory", unit_required=True)
    return None, gpu_memory


def estimate(
    model: str, *, formats: Sequence[str] = (), context: int | str | Sequence[int | str] | None = None,
    batch: int = 1, engine: str = "auto", kv_dtype: str | None = None, gpu_memory: int | str | None = None,
    gpu: str | None = None, units: str = "gb", explain: bool = False, group_size: int | None = None,
    scale_bits: int | None = None, bits: float | None = None, gpu_memory_utilization: float | None = None,
    gpu_layers: int | None = None, flash_attention: bool = True, ubatch_size: int = 512, op_offload: bool = True,
    max_num_batched_tokens: int | None = None, max_num_seqs: int | None = None, resolution: str | None = None,
    layers: int | None = None, kv_heads: int | None = None, head_dim: int | None = None,
    revision: str | None = None, token: str | None = None, format_files: Sequence[Path] | None = None,
    gpu_files: Sequence[Path] | None = None, given_options: frozenset[str] = frozenset(),
    progress: Progress | None = None, refresh: bool = False,
) -> EstimateReport:
    """Weights and VRAM per format (`vramcalc estimate`). `formats`: rows to show (default a common set);
    `given_options`: CLI option names the caller typed, so that those no row reads are warned about."""
    from vramcalc.calculator.engines import RuntimeRequest, architecture_from_flags
    from vramcalc.calculator.kv import check_kv_dtype
    from vramcalc.errors import UsageError
    from vramcalc.estimate_report import AUTO_ENGINE, EstimateRequest, FormatOptions, estimate_count, estimate_inventory
    from vramcalc.registry import load_registry
    from vramcalc.resolve import QuantSet, resolve_model
    from vramcalc.units import ModelLabel, parse_resolution

    registry = load_registry(list(format_files or []) or None)  # the command's registry, --formats included
    if kv_dtype is not None and engine != AUTO_ENGINE:
        check_kv_dtype(kv_dtype, engine, registry)
    flag_arch = None
    if layers or kv_heads or head_dim:
        if not (layers and kv_heads and head_dim):
            raise UsageError("--layers, --kv-heads and --head-dim go together", "give all three, e.g. "
                             "--layers 32 --kv-heads 8 --head-dim 128")
        flag_arch = architecture_from_flags(layers, kv_heads, head_dim)
    selection, gpu_bytes = gpu_capacity(gpu, gpu_memory, gpu_files)
    request = EstimateRequest(
        formats=list(formats), units=units, explain=explain,
        options=FormatOptions(group_size=group_size, scale_bits=scale_bits, bits=bits),
        runtime=RuntimeRequest(
            engine=engine, batch=batch, kv_dtype=kv_dtype, gpu_memory=gpu_bytes,
            gpu_memory_utilization=gpu_memory_utilization, gpu_layers=gpu_layers, flash_attention=flash_attention,
            n_ubatch=ubatch_size, max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
            op_offload=op_offload,
        ),
        resolution=parse_resolution(resolution) if resolution else None,
        contexts=_contexts(context), flag_architecture=flag_arch, given_options=given_options, gpu=selection,
    )
    source = resolve_model(model, revision=revision, token=token, progress=progress, registry=registry,
                           refresh=refresh)
    if isinstance(source, ModelLabel):
        return estimate_count(source, request, registry)
    if isinstance(source, QuantSet):  # several GGUF quants, none named: a table of them all
        from vramcalc.quant_table import estimate_quants

        return estimate_quants(source, request, registry)
    return estimate_inventory(source, request, registry)


def inspect(source: str, *, tensors: bool = False, name_filter: str | None = None, revision: str | None = None,
            token: str | None = None, progress: Progress | None = None,
            format_files: Sequence[Path] | None = None, refresh: bool = False) -> InspectReport:
    """What a checkpoint holds, from its headers only (`vramcalc inspect`). GGUF types are read with the formats
    files given (as every command that reads a file does)."""
    from vramcalc.errors import UsageError
    from vramcalc.inspect_report import build_inspect_report
    from vramcalc.registry import load_registry
    from vramcalc.resolve import resolve_model
    from vramcalc.units import ModelLabel

    registry = load_registry(list(format_files or []) or None)
    model = resolve_model(source, revision=revision, token=token, progress=progress, quant_set=False,
                          registry=registry, refresh=refresh)
    if isinstance(model, ModelLabel):
        raise UsageError(f"{source!r} is a parameter count, not a checkpoint",
                         "inspect reads a file, folder, config.json or Hub id; use `vramcalc estimate` for counts")
    return build_inspect_report(model, tensors=tensors or name_filter is not None, name_filter=name_filter,
                                registry=registry)


def compare(models: Sequence[str], *, dtype: str | None = None, context: int | str | None = None, batch: int = 1,
            engine: str = "auto", gpu_memory: int | str | None = None, gpu: str | None = None, units: str = "gb",
            revision: str | None = None, token: str | None = None, format_files: Sequence[Path] | None = None,
            gpu_files: Sequence[Path] | None = None, refresh: bool = False) -> CompareReport:
    """Models side by side (`vramcalc compare`); a model may name its format: "path:Q4_K_M", "org/name:Q8_0"."""
    from vramcalc.calculator.engines import RuntimeRequest
    from vramcalc.compare_report import build_compare, resolve_with_format
    from vramcalc.errors import UsageError
    from vramcalc.registry import load_registry
    from vramcalc.units import parse_context

    if len(models) < 2:
        raise UsageError("compare needs at least two models", 'give two or more, e.g. `vramcalc compare 13B-Q4_K_M '
                                                               '7B-Q8_0`')
    registry = load_registry(list(format_files or []) or None)
    if dtype is not None:
        registry.get(dtype)  # fail early, with suggestions, on a typo
    sources = [resolve_with_format(m, registry, revision, token, refresh) for m in models]
    _, size = gpu_capacity(gpu, gpu_memory, gpu_files)
    from vramcalc.heuristics import DEFAULT_CONTEXT

    tokens = (DEFAULT_CONTEXT.as_int() if context is None else context if isinstance(context, int)
              else parse_context(context))
    return build_compare(sources, dtype, tokens, units, registry,
                         RuntimeRequest(engine=engine, batch=batch, gpu_memory=size))


def fit(
    model: str | None = None, *, gpu: str | None = None, gpu_memory: int | str | None = None,
    formats: Sequence[str] = (), engine: str = "auto", context: int | str | None = None, batch: int = 1,
    margin: int | str | None = None, kv_dtype: str | None = None, flash_attention: bool = True,
    ubatch_size: int | None = None, units: str = "gb", explain: bool = False, revision: str | None = None,
    token: str | None = None, format_files: Sequence[Path] | None = None, gpu_files: Sequence[Path] | None = None,
    progress: Progress | None = None, refresh: bool = False,
) -> FitReport:
    """Will it run, and how to launch it (`vramcalc fit`): per format the engine's plan on the GPUs — `gpu` by name
    ("RTX 4090", "2xH100") or `gpu_memory` per GPU ("24GiB", "2x80GiB", or bytes). Without `model`: the largest model
    per format. `margin`: memory left free per GPU (bytes or a size; 0 plans to the last byte)."""
    import re

    from vramcalc.calculator.kv import check_kv_dtype
    from vramcalc.errors import UsageError
    from vramcalc.fit_report import FitOptions, device_of, fit_model, largest_model
    from vramcalc.registry import load_registry
    from vramcalc.resolve import resolve_model
    from vramcalc.units import parse_context, parse_size

    if gpu is None and gpu_memory is None:
        raise UsageError("fit needs the GPU(s)", 'name them (--gpu "RTX 4090", --gpu 2xH100) or give --gpu-memory '
                                                 "24GiB")
    registry = load_registry(list(format_files or []) or None)
    if kv_dtype is not None and engine != "auto":
        check_kv_dtype(kv_dtype, engine, registry)
    count, per_gpu = 1, None
    if gpu is None and isinstance(gpu_memory, str):
        m = re.match(r"^\s*(\d+)\s*[x×*]\s*(\S.*)$", gpu_memory, re.IGNORECASE)
        text = gpu_memory
        if m:
            count, text = int(m.group(1)), m.group(2)
            if not 1 <= count <= 1024:
                raise UsageError(f"GPU count {count} in {gpu_memory!r} is not possible", "e.g. --gpu-memory 2x80GiB")
        gpu_memory = parse_size(text, "--gpu-memory", unit_required=True)
    selection, per_gpu = gpu_capacity(gpu, gpu_memory, gpu_files)
    device = device_of(selection, per_gpu, count)
    if isinstance(margin, str):
        margin = 0 if re.fullmatch(r"\s*0+(\.0*)?\s*[A-Za-z]*\s*", margin) else parse_size(
            margin, "--margin", unit_required=True)
    options = FitOptions(
        formats=list(formats), engine=engine, context=parse_context(str(context)) if context else None, batch=batch,
        kv_dtype=kv_dtype, margin=margin, flash_attention=flash_attention, units=units, explain=explain,
        **({"n_ubatch": ubatch_size} if ubatch_size else {}))
    if model is None:
        return largest_model(options, registry, device, selection)
    source = resolve_model(model, revision=revision, token=token, progress=progress, quant_set=False,
                           registry=registry, refresh=refresh)
    return fit_model(source, options, registry, device, selection)


def formats(names: Sequence[str] | None = None, *, family: str | None = None,
            format_files: Sequence[Path] | None = None) -> FormatsReport:
    """The format registry (`vramcalc formats`)."""
    from vramcalc.formats_report import build_formats_report
    from vramcalc.registry import load_registry

    return build_formats_report(load_registry(list(format_files or []) or None), family,
                                list(names) if names else None)


def gpus(names: Sequence[str] | None = None, *, gpu_files: Sequence[Path] | None = None) -> GpusReport:
    """The GPU catalog (`vramcalc gpus`)."""
    from vramcalc.gpu_catalog import load_catalog
    from vramcalc.gpus_report import build_gpus_report

    return build_gpus_report(load_catalog(list(gpu_files or []) or None), list(names) if names else None)


def train(
    model: str, *, methods: Sequence[str] = (), precisions: Sequence[str] = (), optimizer: str | None = None,
    seq_len: int = 2048, batch: int = 1, grad_accum: int = 1, checkpointing: bool = False, lora_rank: int = 16,
    lora_alpha: int = 32, lora_targets: str = "all-linear", gpus: int | None = None, zero: int | None = None,
    fsdp: str | None = None, offload_optimizer: str | None = None, offload_params: str | None = None,
    gpu_memory: int | str | None = None, gpu: str | None = None, fit: str | None = None, units: str = "gb",
    explain: bool = False, revision: str | None = None, token: str | None = None, refresh: bool = False,
) -> TrainReport:
    """GPU memory to train or fine-tune (`vramcalc train`): one row per method × precision (default: full, LoRA and
    QLoRA side by side)."""
    from vramcalc.calculator.optimizers import OPTIMIZERS
    from vramcalc.calculator.training import FSDP_MODES, METHODS, PRECISIONS, TrainRequest
    from vramcalc.errors import UsageError
    from vramcalc.resolve import resolve_model
    from vramcalc.train_report import (
        DEFAULT_OPTIMIZER,
        DEFAULT_PRECISION,
        DEFAULT_ROWS,
        FIT_KINDS,
        build_train_report,
    )

    methods, precisions = list(methods), list(precisions)
    for m in methods:
        if m not in METHODS:
            raise UsageError(f"unknown method {m!r}", f"choose one of: {', '.join(METHODS)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise UsageError(f"unknown precision {p!r}", f"choose one of: {', '.join(PRECISIONS)}")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}", f"choose one of: {', '.join(OPTIMIZERS)}")
    if fsdp is not None and fsdp not in FSDP_MODES:
        raise UsageError(f"unknown FSDP mode {fsdp!r}", f"choose one of: {', '.join(FSDP_MODES)}")
    for flag, value in (("--offload-optimizer", offload_optimizer), ("--offload-params", offload_params)):
        if value is not None and value.lower() != "cpu":
            raise UsageError(f"{flag} {value!r}: only cpu is supported", f"write {flag} cpu")
    if fit is not None and fit not in FIT_KINDS:
        raise UsageError(f"unknown --fit {fit!r}", "choose batch or seq-len")
    if lora_rank <= 0:
        raise UsageError(f"--lora-rank {lora_rank} is not positive", "give a rank of 1 or more (8, 16, 64 …)")
    targets = tuple(t.strip() for t in lora_targets.split(",") if t.strip())
    if not targets:
        raise UsageError("empty --lora-targets", "name modules (q_proj,v_proj) or give all-linear")

    selection, memory = gpu_capacity(gpu, gpu_memory)
    gpu_name, count = (selection.label, selection.count) if selection is not None else (None, 1)
    if selection is not None and gpus is not None and gpus != count and count > 1:
        raise UsageError(f"--gpu {gpu} names {count} GPUs but --gpus is {gpus}", "give one count")
    if fit is not None and memory is None:
        raise UsageError("--fit needs the GPU's memory", "add --gpu-memory 80GB or --gpu H100")
    n_gpus = gpus if gpus is not None else count

    if not methods and not precisions:
        rows = [(m, p, optimizer or DEFAULT_OPTIMIZER[m]) for m, p in DEFAULT_ROWS]
    else:
        rows = [(m, p, optimizer or DEFAULT_OPTIMIZER[m])
                for m in (methods or ["full"]) for p in (precisions or [DEFAULT_PRECISION[m]])]
    base = TrainRequest(
        seq_len=seq_len, batch=batch, grad_accum=grad_accum, checkpointing=checkpointing, lora_rank=lora_rank,
        lora_alpha=lora_alpha, lora_targets=targets, gpus=n_gpus, zero=zero, fsdp=fsdp,
        offload_optimizer=offload_optimizer is not None, offload_params=offload_params is not None,
    )
    source = resolve_model(model, revision=revision, token=token, quant_set=False, refresh=refresh)
    return build_train_report(source, base, rows, units=units, explain=explain, gpu_memory=memory,
                              gpu_name=gpu_name, fit=fit)
