"""`vramcalc compare A B …`: models or labels side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from vramcalc.cli.app import FormatsOpt, JsonOpt, UnitsChoice, UnitsOpt

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
    batch: Annotated[int, typer.Option("--batch", "-b", help="sequences at once", min=1)] = 1,
    engine: Annotated[str, typer.Option(
        "--engine", "-e", help="transformers, vllm or llama.cpp; auto: llama.cpp for GGUF entries, else "
                               "transformers")] = "auto",
    gpu_memory: Annotated[
        str | None, typer.Option("--gpu-memory", help="memory per GPU, e.g. 24GiB: GPUs needed and the longest context "
                                                      "per model")
    ] = None,
    units: UnitsOpt = UnitsChoice.gb,
    revision: Annotated[str | None, typer.Option("--revision", help="Hub revision (branch, tag, commit)")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Hub token (else $HF_TOKEN)", show_default=False)] = None,
    formats: FormatsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Models or labels side by side: parameters, bits per weight, weights/file size and VRAM."""
    import sys

    from vramcalc.calculator.engines import ENGINES, RuntimeRequest
    from vramcalc.compare import build_compare
    from vramcalc.errors import UsageError
    from vramcalc.estimate import AUTO_ENGINE
    from vramcalc.registry import load_registry

    if len(models) < 2:
        raise UsageError("compare needs at least two models", 'give two or more, e.g. `vramcalc compare 13B-Q4_K_M '
                                                               '7B-Q8_0`')
    if engine not in (*ENGINES, AUTO_ENGINE):
        raise UsageError(f"unknown engine {engine!r}", f"choose one of: {', '.join(ENGINES)} (or auto)")
    registry = load_registry(list(formats or []) or None)
    if dtype is not None:
        registry.get(dtype)  # fail early, with suggestions, on a typo
    sources = [_source(m, registry, revision, token) for m in models]
    from vramcalc.units import parse_context, parse_size

    size = parse_size(gpu_memory, "--gpu-memory", unit_required=True) if gpu_memory else None
    report = build_compare(sources, dtype, parse_context(context), units.value, registry,
                           RuntimeRequest(engine=engine, batch=batch, gpu_memory=size))
    if json_out:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    from vramcalc.cli.render_compare import render_compare

    render_compare(report)



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
