"""`vramcalc inspect` (placeholder until the inspect command lands)."""

from __future__ import annotations

from typing import Annotated

import typer


def inspect(source: Annotated[str, typer.Argument(help="file, folder, GGUF, config.json or Hub id")]) -> None:
    """Read a checkpoint's headers: parameters and bytes by dtype and component."""
    from vramcalc.errors import UsageError

    raise UsageError("inspect is not available yet", "use `vramcalc estimate`")
