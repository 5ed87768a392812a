"""Readers: each source (safetensors file, folder, HF cache, Hub, GGUF, config.json) → one Inventory."""

from __future__ import annotations

from pathlib import Path

from vramcalc.errors import SourceError
from vramcalc.inventory import Inventory


def read_local(path: Path) -> Inventory:
    raise SourceError(f"cannot read {path} yet", "give a parameter count such as 12B")


def read_repo(repo_id: str, *, revision: str | None = None, token: str | None = None) -> Inventory:
    raise SourceError(f"cannot read {repo_id} yet", "give a parameter count such as 12B")
