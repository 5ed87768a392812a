"""Readers: each source (safetensors file, folder, HF cache, Hub, GGUF, config.json) → one Inventory.

Entry points stay light: the modules doing the work (and huggingface_hub) are imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

if TYPE_CHECKING:  # a bare count's path resolves through here and never builds an inventory
    from vramcalc.inventory import Inventory
    from vramcalc.registry import Registry

_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt")


@dataclass(frozen=True)
class QuantSet:
    """A Hub repo, cached snapshot or folder holding several GGUF quants of a model, none of them named: one
    Inventory per quant (headers only), for a table of them all. `repo_id` is set for repos (pick one as
    `repo_id:TAG`); for a folder, a quant is picked by its file's path (its Inventory's source)."""

    source: str
    quants: tuple[tuple[str, Inventory], ...]  # (quant tag, what its file(s) hold), in file-name order
    repo_id: str | None = None

    def how_to_pick(self, tag: str) -> str:
        """What to type to get this one quant: `org/name:Q4_K_M`, or the file's path."""
        if self.repo_id is not None:
            return f"{self.repo_id}:{tag}"
        return next(inv.source for t, inv in self.quants if t == tag)


@overload
def read_local(path: Path, *, quant_set: Literal[False], registry: Registry | None = None) -> Inventory: ...
@overload
def read_local(path: Path, *, quant_set: bool = True, registry: Registry | None = None) -> Inventory | QuantSet: ...
def read_local(path: Path, *, quant_set: bool = True, registry: Registry | None = None) -> Inventory | QuantSet:
    """A local .safetensors, .gguf, config.json, or a folder (sharded, diffusers pipeline, config only). A folder of
    several GGUF quants is a QuantSet, or (`quant_set=False`) an error that lists them. GGUF types are looked up in
    `registry` (the caller's, with its --formats files; None: the shipped one and $VRAMCALC_FORMATS)."""
    config = _config_only(path)
    if config is not None:
        from vramcalc.readers.config_json import inventory_from_config, read_config_file

        return inventory_from_config(read_config_file(config), str(path))
    from vramcalc.readers.local import read_local_path

    return read_local_path(path, quant_set=quant_set, registry=registry)


def _config_only(path: Path) -> Path | None:
    """The config.json to count from when `path` is one, or a folder holding one and no weights."""
    if path.is_file():
        return path if path.suffix == ".json" and path.name != "model.safetensors.index.json" else None
    if path.is_dir() and (path / "config.json").is_file() and not (path / "model_index.json").exists():
        has_weights = any(p.suffix in _WEIGHT_SUFFIXES for p in path.iterdir())
        return None if has_weights else path / "config.json"
    return None


def read_repo(repo_id: str, *, revision: str | None = None, token: str | None = None,
              progress: Callable[[int, int], None] | None = None, gguf_tag: str | None = None,
              quant_set: bool = True, registry: Registry | None = None, refresh: bool = False) -> Inventory | QuantSet:
    """A Hub repo id: the local Hugging Face cache first, then the Hub (headers only). `gguf_tag` picks one GGUF
    file of a repo that holds several (`org/name:Q4_K_M`); without one, such a repo is a QuantSet of them all, or
    (`quant_set=False`) an error that lists them."""
    from vramcalc.readers.hub import read_repo as _read_repo

    return _read_repo(repo_id, revision=revision, token=token, progress=progress, gguf_tag=gguf_tag,
                      quant_set=quant_set, registry=registry, refresh=refresh)
