"""`vramcalc fit [MODEL]`: will it run on my GPU(s), and how to launch it — per format, the engine's plan (all on the
GPU, layers or experts in host memory, a split over several GPUs), the longest context, the launch flags and speed
bounds. Without a model: the largest model per format."""

# No `from __future__ import annotations`: typer reads these annotations at run time.

import re
from typing import Annotated

import typer

from vramcalc.cli.options import (
    BatchOpt,
    EngineChoice,
    EngineOpt,
    FormatsOpt,
    GpuOpt,
    GpusOpt,
    JsonOpt,
    RevisionOpt,
    TokenOpt,
    UnitsChoice,
    UnitsOpt,
)
from vramcalc.cli.output import emit

_COUNT = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\S.*)$", re.IGNORECASE)


def fit(
    model: Annotated[str | None, typer.Argument(
        metavar="[MODEL]", help='count ("13B"), label ("32B-Q4_K_M"), config.json, checkpoint, GGUF or Hub id; '
                                "none: the largest model per format")] = None,
    dtype: Annotated[list[str] | None, typer.Option(
        "--dtype", "-d", metavar="FORMAT", help="format row to plan (repeatable); default: a common set")] = None,
    gpu: GpuOpt = None,
    gpu_memory: Annotated[str | None, typer.Option(
        "--gpu-memory", help="memory per GPU instead of --gpu, e.g. 24GiB or 2x80GiB (no bandwidth: no speed "
                             "bounds)")] = None,
    engine: EngineOpt = EngineChoice.auto,
    context: Annotated[str | None, typer.Option(
        "--context", "-c", metavar="TOKENS", help="tokens per sequence: 8192 or 8k (default 4096, or the model's "
                                                  "maximum if smaller)")] = None,
    batch: BatchOpt = 1,
    margin: Annotated[str | None, typer.Option(
        "--margin", metavar="SIZE", help="memory left free on each GPU (default per engine: llama.cpp 1024 MiB as its "
                                         "--fit, vLLM 1 − gpu_memory_utilization 0.9, transformers 10 %); 0 plans "
                                         "to the last byte")] = None,
    kv_dtype: Annotated[str | None, typer.Option(
        "--kv-dtype", help="KV cache dtype: bf16, fp8, q8_0 … (rows whose engine lacks it keep its default)")] = None,
    flash_attention: Annotated[bool, typer.Option(
        "--flash-attention/--no-flash-attention", help="llama.cpp -fa on/off")] = True,
    ubatch_size: Annotated[int | None, typer.Option("--ubatch-size", "-ub", min=1,
                                                    help="llama.cpp -ub (default 512)")] = None,
    units: UnitsOpt = UnitsChoice.gb,
    explain: Annotated[bool, typer.Option("--explain", help="print the arithmetic: the plan, the speed formulas")
                       ] = False,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    formats: FormatsOpt = None,
    gpus: GpusOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Will it run on my GPU? Per format: fits or not, headroom, the longest context, the llama.cpp / vLLM /
    transformers plan (layers or experts in host memory, tensor/pipeline parallel, -ts) with its launch flags, and
    speed bounds. Without MODEL: the largest model per format."""
    from vramcalc.errors import UsageError
    from vramcalc.fit_report import FitOptions, device_of, fit_model, largest_model
    from vramcalc.registry import load_registry
    from vramcalc.units import parse_context, parse_size

    engine_name = engine.value
    if gpu is not None and gpu_memory is not None:
        raise UsageError("--gpu and --gpu-memory both give the GPU's memory", "give one of them")
    if gpu is None and gpu_memory is None:
        raise UsageError("fit needs the GPU(s)", 'name them (--gpu "RTX 4090", --gpu 2xH100) or give --gpu-memory '
                                                 "24GiB")
    registry = load_registry(formats)
    if kv_dtype is not None and engine_name != "auto":
        from vramcalc.calculator.kv import check_kv_dtype

        check_kv_dtype(kv_dtype, engine_name, registry)
    selection = None
    count, per_gpu = 1, None
    if gpu is not None:
        from vramcalc.gpu_catalog import load_catalog, parse_gpu

        selection = parse_gpu(gpu, load_catalog(gpus))
    else:
        assert gpu_memory is not None
        text = gpu_memory
        m = _COUNT.match(text)
        if m:
            count, text = int(m.group(1)), m.group(2)
            if not 1 <= count <= 1024:
                raise UsageError(f"GPU count {count} in {gpu_memory!r} is not possible", "e.g. --gpu-memory 2x80GiB")
        per_gpu = parse_size(text, "--gpu-memory", unit_required=True)
    device = device_of(selection, per_gpu, count)
    options = FitOptions(
        formats=list(dtype or []), engine=engine_name, context=parse_context(context) if context else None, batch=batch,
        kv_dtype=kv_dtype, margin=_margin(margin) if margin is not None else None, flash_attention=flash_attention,
        units=units.value, explain=explain, **({"n_ubatch": ubatch_size} if ubatch_size else {}))
    if model is None:
        report = largest_model(options, registry, device, selection)
    else:
        from vramcalc.cli.progress import progress_bar
        from vramcalc.resolve import resolve_model

        with progress_bar("reading headers") as progress:
            source = resolve_model(model, revision=revision, token=token, progress=progress, quant_set=False,
                                   registry=registry)
        report = fit_model(source, options, registry, device, selection)
    emit(report, json_out)


def _margin(text: str) -> int:
    """--margin SIZE: "0" (or 0 of any unit) plans to the last byte; else a size with its unit."""
    from vramcalc.units import parse_size

    if re.fullmatch(r"\s*0+(\.0*)?\s*[A-Za-z]*\s*", text):
        return 0
    return parse_size(text, "--margin", unit_required=True)
