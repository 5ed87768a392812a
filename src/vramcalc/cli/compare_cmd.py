"""`vramcalc compare A B …`: models or labels side by side."""

from __future__ import annotations

from typing import Annotated

import typer

from vramcalc.cli.app import FormatsOpt, JsonOpt, UnitsChoice, UnitsOpt


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
    from vramcalc.resolve import resolve_model

    if len(models) < 2:
        raise UsageError("compare needs at least two models", 'give two or more, e.g. `vramcalc compare 13B-Q4_K_M '
                                                               '7B-Q8_0`')
    if engine not in (*ENGINES, AUTO_ENGINE):
        raise UsageError(f"unknown engine {engine!r}", f"choose one of: {', '.join(ENGINES)} (or auto)")
    registry = load_registry(list(formats or []) or None)
    if dtype is not None:
        registry.get(dtype)  # fail early, with suggestions, on a typo
    sources = [(m, resolve_model(m, revision=revision, token=token, quant_set=False)) for m in models]
    from vramcalc.units import parse_context

    report = build_compare(sources, dtype, parse_context(context), units.value, registry,
                           RuntimeRequest(engine=engine, batch=batch))
    if json_out:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    from vramcalc.cli.render_compare import render_compare

    render_compare(report)

