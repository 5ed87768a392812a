"""`vramcalc formats [NAME…]`: the format registry."""

# No `from __future__ import annotations`: typer reads these annotations at run time.

from typing import Annotated

import typer

from vramcalc.cli.options import FormatsOpt, JsonOpt
from vramcalc.cli.output import emit


def formats(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="NAME", help="only these formats, by name or alias (Q4_K_M, nf4, bfloat16 …)")] = None,
    formats: FormatsOpt = None,
    family: Annotated[str | None, typer.Option("--family", help="only this family (gguf_type, gptq …)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the format registry: bits per weight from each block layout, what stays unquantized, notes."""
    from vramcalc.api import formats as list_formats

    emit(list_formats(names, family=family, format_files=formats), json_out)
