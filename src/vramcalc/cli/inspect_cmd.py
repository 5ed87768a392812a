"""`vramcalc inspect`: what a checkpoint holds, from its headers only."""

from __future__ import annotations

from typing import Annotated

import typer


def inspect(
    source: Annotated[str, typer.Argument(
        metavar="SOURCE", help="a .safetensors or .gguf file, a model folder, config.json or Hub id")],
    tensors: Annotated[bool, typer.Option("--tensors", help="list every tensor")] = False,
    name_filter: Annotated[
        str | None, typer.Option("--filter", help="only tensors whose name matches (substring or glob)")
    ] = None,
    revision: Annotated[str | None, typer.Option("--revision", help="Hub revision (branch, tag, commit)")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Hub token (else $HF_TOKEN)", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON (stdout) for scripts")] = False,
) -> None:
    """Read a checkpoint's headers: parameters and bytes by dtype and component."""
    import sys

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
    if json_out:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    from vramcalc.cli.render_inspect import render_inspect

    render_inspect(report)
