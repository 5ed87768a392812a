"""Readers: each source (safetensors file, folder, HF cache, Hub, GGUF, config.json) → one Inventory.

Entry points stay light: the modules doing the work (and huggingface_hub) are imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vramcalc.inventory import Inventory

_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt")


def read_local(path: Path) -> Inventory:
    """A local .safetensors, .gguf, config.json, or a folder (sharded, diffusers pipeline, config only)."""
    config = _config_only(path)
    if config is not None:
        from vramcalc.readers.config_json import inventory_from_config, read_config_file

        return inventory_from_config(read_config_file(config), str(path))
    from vramcalc.readers.local import read_local_path

    return read_local_path(path)


def _config_only(path: Path) -> Path | None:
    """The config.json to count from when `path` is one, or a folder holding one and no weights."""
    if path.is_file():
        return path if path.suffix == ".json" and path.name != "model.safetensors.index.json" else None
    if path.is_dir() and (path / "config.json").is_file() and not (path / "model_index.json").exists():
        has_weights = any(p.suffix in _WEIGHT_SUFFIXES for p in path.iterdir())
        return None if has_weights else path / "config.json"
    return None


def read_repo(repo_id: str, *, revision: str | None = None, token: str | None = None,
              progress: Callable[[int, int], None] | None = None, gguf_tag: str | None = None) -> Inventory:
    """A Hub repo id: the local Hugging Face cache first, then the Hub (headers only). `gguf_tag` picks one GGUF
    file of a repo that holds several (`org/name:Q4_K_M`)."""
    from vramcalc.readers.hub import read_repo as _read_repo

    return _read_repo(repo_id, revision=revision, token=token, progress=progress, gguf_tag=gguf_tag)
