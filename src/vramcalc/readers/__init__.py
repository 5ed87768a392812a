"""Readers: each source (safetensors file, folder, HF cache, Hub, GGUF, config.json) → one Inventory.

Entry points stay light: the modules doing the work (and huggingface_hub) are imported on first use.
"""

from __future__ import annotations

from pathlib import Path

from vramcalc.inventory import Inventory


def read_local(path: Path) -> Inventory:
    """A local .safetensors, .gguf, config.json, or a folder (sharded, diffusers pipeline, config only)."""
    from vramcalc.readers.local import read_local_path

    return read_local_path(path)


def read_repo(repo_id: str, *, revision: str | None = None, token: str | None = None) -> Inventory:
    """A Hub repo id: the local Hugging Face cache first, then the Hub (headers only)."""
    from vramcalc.readers.hub import read_repo as _read_repo

    return _read_repo(repo_id, revision=revision, token=token)
