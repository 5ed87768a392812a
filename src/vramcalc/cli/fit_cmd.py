"""`vramcalc fit [MODEL]`: will it run on my GPU(s), and how to launch it — per format, the engine's plan (all on the
GPU, layers or experts in host memory, a split over several GPUs), the longest context, the launch flags and speed
bounds. Without a model: the largest model per format."""

# No `from __future__ import annotations`: typer reads these annotations at run time.

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
    RefreshOpt,
    RevisionOpt,
    TokenOpt,
    UnitsChoice,
    UnitsOpt,
)
from vramcalc.cli.output import emit


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
    refresh: RefreshOpt = False,
    formats: FormatsOpt = None,
    gpus: GpusOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Will it run on my GPU? Per format: fits or not, headroom, the longest context, the llama.cpp / vLLM /
    transformers plan (layers or experts in host memory, tensor/pipeline parallel, -ts) with its launch flags, and
    speed bounds. Without MODEL: the largest model per format."""
    from vramcalc.api import fit as fit_report
    from vramcalc.cli.progress import progress_bar

    with progress_bar("reading headers") as progress:
        report = fit_report(
            model, gpu=gpu, gpu_memory=gpu_memory, formats=list(dtype or []), engine=engine.value, context=context,
            batch=batch, margin=margin, kv_dtype=kv_dtype, flash_attention=flash_attention, ubatch_size=ubatch_size,
            units=units.value, explain=explain, revision=revision, token=token, refresh=refresh,
            format_files=formats, gpu_files=gpus, progress=progress)
    emit(report, json_out)
