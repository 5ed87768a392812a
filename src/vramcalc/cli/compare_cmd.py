"""`vramcalc compare` (placeholder until the compare command lands)."""

from __future__ import annotations

from typing import Annotated

import typer


def compare(models: Annotated[list[str], typer.Argument(help="models or labels to compare")]) -> None:
    """Models or labels side by side."""
    from vramcalc.errors import UsageError

    raise UsageError("compare is not available yet", "use `vramcalc estimate`")
