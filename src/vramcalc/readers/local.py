"""Local sources. (Placeholder until the local readers land.)"""

from __future__ import annotations

from pathlib import Path

from vramcalc.errors import SourceError
from vramcalc.inventory import Inventory


def read_local_path(path: Path) -> Inventory:
    raise SourceError(f"cannot read {path} yet", "give a parameter count such as 12B")
