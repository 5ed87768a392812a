"""`vramcalc compare A B …`: models or labels side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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
    RevisionOpt,
    TokenOpt,
    UnitsChoice,
    UnitsOpt,
    gpu_capacity,
)
from vramcalc.cli.output import emit

if TYPE_CHECKING:
    from vramcalc.inventory import Inventory
    from vramcalc.registry import Registry
    from vramcalc.units import ModelLabel


def compare(
    models: Annotated[list[str], typer.Argument(
        metavar="MODEL", help='labels ("13B-Q4_K_M", "7B-Q8_0"), counts, config.json, checkpoints, GGUFs or Hub ids')],
    dtype: Annotated[
        str | None,
        typer.Option("--dtype", "-d", help="format for models that do not name one (default: as stored, or bf16)",
                     metavar="FORMAT"),
    ] = None,
    context: Annotated[str, typer.Option("--context", "-c", help="context length in tokens: 8192 or 8k")] = "4096",
    batch: BatchOpt = 1,
    engine: EngineOpt = EngineChoice.auto,
    gpu_memory: GpuMemoryOpt = None,
    gpu: GpuOpt = None,
    units: UnitsOpt = UnitsChoice.gb,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    formats: FormatsOpt = None,
    gpus: GpusOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Models or labels side by side: parameters, bits per weight, weights/file size and VRAM."""
    from vramcalc.calculator.engines import RuntimeRequest
    from vramcalc.compare import build_compare
    from vramcalc.errors import UsageError
    from vramcalc.registry import load_registry

    if len(models) < 2:
        raise UsageError("compare needs at least two models", 'give two or more, e.g. `vramcalc compare 13B-Q4_K_M '
                                                               '7B-Q8_0`')
    registry = load_registry(list(formats or []) or None)
    if dtype is not None:
        registry.get(dtype)  # fail early, with suggestions, on a typo
    sources = [_source(m, registry, revision, token) for m in models]
    from vramcalc.units import parse_context

    _, size = gpu_capacity(gpu, gpu_memory, gpus)
    report = build_compare(sources, dtype, parse_context(context), units.value, registry,
                           RuntimeRequest(engine=engine.value, batch=batch, gpu_memory=size))
    emit(report, json_out)



def _source(text: str, registry: Registry, revision: str | None, token: str | None
            ) -> tuple[str, ModelLabel | Inventory, str | None]:
    """A model and the format asked for it: `path:Q4_K_M`, `7B:Q8_0` or `org/name:Q8_0`. On the Hub a tag first
    picks a GGUF quant of the repo (as llama.cpp's -hf does); a repo without GGUFs prices its weights in that
    format."""
    from pathlib import Path

    from vramcalc.errors import HubError, UsageError
    from vramcalc.resolve import looks_like_repo_id, resolve_model

    head, sep, tail = text.rpartition(":")
    spec = registry.find(tail) if sep and head and not tail.startswith(("/", "\\")) else None
    if spec is None:
        return text, resolve_model(text, revision=revision, token=token, quant_set=False), None
    if Path(head).expanduser().exists():
        return text, resolve_model(head, revision=revision, token=token, quant_set=False), spec.name
    if looks_like_repo_id(head):
        try:
            return text, resolve_model(text, revision=revision, token=token, quant_set=False), None
        except HubError as e:
            if "no GGUF" not in str(e):
                raise
        return text, resolve_model(head, revision=revision, token=token, quant_set=False), spec.name
    try:
        return text, resolve_model(head, revision=revision, token=token, quant_set=False), spec.name
    except UsageError:
        return text, resolve_model(text, revision=revision, token=token, quant_set=False), None
