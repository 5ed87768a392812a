"""Hub sources. (Placeholder until the Hub reader lands.)"""

from __future__ import annotations

from vramcalc.errors import HubError
from vramcalc.inventory import Inventory


def read_repo(repo_id: str, *, revision: str | None = None, token: str | None = None) -> Inventory:
    raise HubError(f"cannot read {repo_id} yet", "give a parameter count such as 12B")
