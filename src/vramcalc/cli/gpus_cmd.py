"""`vramcalc gpus [NAME…]`: the GPU catalog — memory as the driver reports it, bandwidth, throughput, sources."""

# No `from __future__ import annotations`: typer reads these annotations at run time.

from pathlib import Path
from typing import Annotated

import typer

from vramcalc.cli.app import JsonOpt

GpusOpt = Annotated[
    list[Path] | None,
    typer.Option("--gpus", help="extra GPU catalog TOML (repeatable); also $VRAMCALC_GPUS", metavar="FILE"),
]


def gpus(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="NAME", help='only these devices, by name or alias ("RTX 4090", "h100", "M3 Max 36GB"), with '
                             "every figure's source")] = None,
    catalog_files: GpusOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the GPU catalog: memory in GiB and GB (and whether the driver reports it or it is the marketed size),
    bandwidth, dense tensor throughput, interconnect; unified memory (Apple) with the GPU's default share."""
    import sys

    from vramcalc.gpus import load_catalog
    from vramcalc.gpus_report import build_gpus_report

    report = build_gpus_report(load_catalog(list(catalog_files or []) or None), names)
    if json_out:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    from vramcalc.cli.render_gpus import render_gpus

    render_gpus(report, details=bool(names))
