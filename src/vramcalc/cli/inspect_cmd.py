"""`vramcalc inspect`: what a checkpoint holds, from its headers only."""

from __future__ import annotations

from typing import Annotated

import typer

from vramcalc.cli.options import FormatsOpt, JsonOpt, RefreshOpt, RevisionOpt, TokenOpt
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
    refresh: RefreshOpt = False,
    formats: FormatsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Read a checkpoint's headers: parameters and bytes by dtype and component."""
    from vramcalc.api import inspect as inspect_model
    from vramcalc.cli.progress import progress_bar

    with progress_bar("reading headers") as progress:
        report = inspect_model(source, tensors=tensors, name_filter=name_filter, revision=revision, token=token,
                               refresh=refresh, progress=progress, format_files=formats)
    emit(report, json_out)
