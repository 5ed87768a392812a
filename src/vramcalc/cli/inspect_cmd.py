"""`vramcalc inspect`: what a checkpoint holds, from its headers only."""

from __future__ import annotations

from typing import Annotated

import typer

from vramcalc.cli.options import JsonOpt, RevisionOpt, TokenOpt
from vramcalc.cli.output import emit


def inspect(
    source: Annotated[str, typer.Argument(
        metavar="SOURCE", help="a .safetensors or .gguf file, a model folder, config.json or Hub id")],
    tensors: Annotated[bool, typer.Option("--tensors", help="list every tensor")] = False,
    name_filter: Annotated[
        str | None, typer.Option("--filter", help="only tensors whose name matches (substring or glob)")
    ] = None,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Read a checkpoint's headers: parameters and bytes by dtype and component."""
    from vramcalc.cli.progress import progress_bar
    from vramcalc.errors import UsageError
    from vramcalc.inspect_report import build_inspect_report
    from vramcalc.resolve import resolve_model
    from vramcalc.units import ModelLabel

    with progress_bar("reading headers") as progress:
        model = resolve_model(source, revision=revision, token=token, progress=progress, quant_set=False)
    if isinstance(model, ModelLabel):
        raise UsageError(f"{source!r} is a parameter count, not a checkpoint",
                         "inspect reads a file, folder, config.json or Hub id; use `vramcalc estimate` for counts")
    report = build_inspect_report(model, tensors=tensors or name_filter is not None, name_filter=name_filter)
    emit(report, json_out)
