"""`vramcalc compare A B …`: models or labels side by side."""

from __future__ import annotations

from typing import Annotated

import typer

from vramcalc.cli.options import (
    BatchOpt,
    EngineChoice,
    EngineOpt,
    FormatsOpt,
    GpuMemoryOpt,
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


def compare(
    models: Annotated[list[str], typer.Argument(
        metavar="MODEL", help='labels ("13B-Q4_K_M", "7B-Q8_0"), counts, config.json, checkpoints, GGUFs or Hub ids')],
    dtype: Annotated[
        str | None,
        typer.Option("--dtype", "-d", help="format for models that do not name one (default: as stored, or bf16)",
                     metavar="FORMAT"),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", "-c",
                                                help="context length in tokens: 8192 or 8k (default 4096)")] = None,
    batch: BatchOpt = 1,
    engine: EngineOpt = EngineChoice.auto,
    gpu_memory: GpuMemoryOpt = None,
    gpu: GpuOpt = None,
    units: UnitsOpt = UnitsChoice.gb,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    refresh: RefreshOpt = False,
    formats: FormatsOpt = None,
    gpus: GpusOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Models or labels side by side: parameters, bits per weight, weights/file size and VRAM."""
    from vramcalc.api import compare as compare_models

    emit(compare_models(models, dtype=dtype, context=context, batch=batch, engine=engine.value, gpu_memory=gpu_memory,
                        gpu=gpu, units=units.value, revision=revision, token=token, refresh=refresh,
                        format_files=formats, gpu_files=gpus), json_out)
