"""Options several commands share, defined once (typer reads these annotations at run time)."""

# No `from __future__ import annotations`: typer evaluates the annotations of the commands that use these.

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class UnitsChoice(StrEnum):
    gb = "gb"
    gib = "gib"


class EngineChoice(StrEnum):
    """--engine: the engine profiles (calculator/engines PROFILES, checked by a test) and auto."""

    auto = "auto"
    transformers = "transformers"
    vllm = "vllm"
    llamacpp = "llama.cpp"


FormatsOpt = Annotated[
    list[Path] | None,
    typer.Option("--formats", help="extra formats TOML (repeatable); also $VRAMCALC_FORMATS", metavar="FILE"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the report as JSON (stdout) for scripts")]
UnitsOpt = Annotated[
    UnitsChoice, typer.Option("--units", help="gb = 10^9 bytes (as file sizes are shown), gib = 2^30 bytes")
]
RevisionOpt = Annotated[str | None, typer.Option("--revision", help="Hub revision (branch, tag, commit)")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="Hub token (else $HF_TOKEN)", show_default=False)]
RefreshOpt = Annotated[bool, typer.Option(
    "--refresh", help="Hub repos: read them again, not from vramcalc's header cache (and keep what comes back)")]
EngineOpt = Annotated[EngineChoice, typer.Option(
    "--engine", "-e", help="auto: llama.cpp for GGUF rows (a GGUF file, GGUF types), transformers for the rest")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", help="sequences at once", min=1)]
GpuMemoryOpt = Annotated[str | None, typer.Option(
    "--gpu-memory", help="memory per GPU, e.g. 24GiB (a card sold as \"24 GB\" has 24 GiB): adds GPUs needed and the "
                         "longest context (also vLLM's budget; default an H100)")]
GpuOpt = Annotated[str | None, typer.Option(
    "--gpu", metavar="NAME", help='a GPU by name instead of --gpu-memory: "RTX 4090", 2xA100-80GB, "M3 Max 36GB" — '
                                  "its memory as the driver reports it (vramcalc gpus lists them)")]
GpusOpt = Annotated[list[Path] | None, typer.Option(
    "--gpus", help="extra GPU catalog TOML (repeatable); also $VRAMCALC_GPUS", metavar="FILE")]


def given_options(ctx: typer.Context) -> frozenset[str]:
    """The long names of the options the user typed (not those left at their defaults)."""
    given: set[str] = set()
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name) if param.name else None
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            given.update(o.split("/")[0] for o in param.opts if o.startswith("--"))
    return frozenset(given)
