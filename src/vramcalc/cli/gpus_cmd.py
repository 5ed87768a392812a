"""`vramcalc gpus [NAME…]`: the GPU catalog — memory as the driver reports it, bandwidth, throughput, sources."""

# No `from __future__ import annotations`: typer reads these annotations at run time.

from typing import Annotated

import typer

from vramcalc.cli.options import GpusOpt, JsonOpt
from vramcalc.cli.output import emit


def gpus(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="NAME", help='only these devices, by name or alias ("RTX 4090", "h100", "M3 Max 36GB"), with '
                             "every figure's source")] = None,
    catalog_files: GpusOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the GPU catalog: memory in GiB and GB (and whether the driver reports it or it is the marketed size),
    bandwidth, dense tensor throughput, interconnect; unified memory (Apple) with the GPU's default share."""
    from vramcalc.api import gpus as list_gpus

    emit(list_gpus(names, gpu_files=catalog_files), json_out, details=bool(names))
