"""The local Hugging Face cache (HF_HUB_CACHE / HF_HOME): `models--org--name/snapshots/<commit>/`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vramcalc.errors import SourceError
from vramcalc.readers.paths import stays_inside
from vramcalc.readers.weight_files import INDEX

if TYPE_CHECKING:
    from vramcalc.inventory import Inventory


def hub_cache_dir() -> Path:
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The snapshot folder of `repo_id` at `revision` (a branch, tag or commit), if it is in the cache.

    Every name is checked before it becomes a path: the repo id and the revision (`--revision ../x` is refused),
    and the commit a `refs/<rev>` file holds (one path component, as huggingface_hub writes a 40-hex commit): a
    ref that points elsewhere is an error, never followed out of the cache."""
    from vramcalc.errors import HubError
    from vramcalc.readers.paths import is_regular, plain_name, valid_repo_id, valid_revision

    rev = revision or "main"
    if not valid_repo_id(repo_id) or not valid_revision(rev):
        raise HubError(f"{repo_id!r} at revision {rev[:100]!r} is not a Hub repo id and revision",
                       "give org/name and a branch, tag or commit")
    repo = hub_cache_dir() / f"models--{repo_id.replace('/', '--')}"
    if not repo.is_dir():
        return None
    ref = repo / "refs" / rev
    commit = rev
    if ref.exists():
        if not is_regular(ref):
            raise HubError(f"the cache's ref {ref} is not a regular file", f"delete {repo} and download it again")
        with ref.open("rb") as f:
            commit = f.read(256).decode("utf-8", "replace").strip()
        if not plain_name(commit):
            raise HubError(f"the cache's ref {ref} does not hold a commit ({commit[:60]!r})",
                           f"delete {repo} and download it again")
    elif not plain_name(commit):  # refs/pr/1 with no ref file: not a snapshot name
        return None
    snapshot = repo / "snapshots" / commit
    if not snapshot.is_dir():
        return None
    if not snapshot.resolve().is_relative_to(repo.resolve()):  # a snapshot folder is never a link out of its repo
        raise HubError(f"the cache's snapshot {snapshot} points outside {repo}", f"delete {repo} and download it again")
    return snapshot


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cached_state(snapshot: Path) -> str | None:
    """What a cached snapshot can answer: "model" (weights to read, a pipeline, or a repo that is only a config),
    "config" (config.json, but the weights the index names are not all there: `hf download … --include '*.json'`),
    or None."""
    names = {p.name for p in snapshot.iterdir()}
    if "model_index.json" in names or any(n.endswith(".gguf") for n in names):
        return "model"
    if INDEX in names:
        shards = _index_shards(snapshot / INDEX)
        if shards and all(stays_inside(s) and (snapshot / s).is_file() for s in shards):
            return "model"
        return "config" if "config.json" in names else None
    if "config.json" in names or any(n.endswith(".safetensors") for n in names):
        return "model"
    return None


def _load_index(index: Path) -> dict[str, Any]:
    from vramcalc.readers.config_json import read_json_object

    try:
        return read_json_object(index)
    except SourceError:
        return {}


def _index_shards(index: Path) -> list[str]:
    weight_map = _load_index(index).get("weight_map")
    return sorted(set(map(str, weight_map.values()))) if isinstance(weight_map, dict) else []


def config_from_cache(snapshot: Path, label: str) -> Inventory:
    """Offline, a snapshot holding config.json (and the index) without its weights: the config-only model, as the
    Hub path counts a repo without weights."""
    from vramcalc.readers.config_json import inventory_from_config, read_config_file

    inv = inventory_from_config(read_config_file(snapshot / "config.json"), label)
    note = "offline (HF_HUB_OFFLINE): the weights are not in the local cache, counted from its config.json"
    total = _index_total_size(snapshot / INDEX)
    if total:
        note += f" (the index lists {total:,} bytes of tensors)"
    return inv.model_copy(update={"warnings": [*inv.warnings, note]})


def _index_total_size(index: Path) -> int | None:
    meta = _load_index(index).get("metadata")
    total = meta.get("total_size") if isinstance(meta, dict) else None
    return total if isinstance(total, int) and total > 0 else None
