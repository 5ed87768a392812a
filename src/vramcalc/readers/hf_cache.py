"""The local Hugging Face cache (HF_HUB_CACHE / HF_HOME): `models--org--name/snapshots/<commit>/`."""

from __future__ import annotations

import os
from pathlib import Path


def hub_cache_dir() -> Path:
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The snapshot folder of `repo_id` at `revision` (a branch, tag or commit), if it is in the cache."""
    repo = hub_cache_dir() / f"models--{repo_id.replace('/', '--')}"
    if not repo.is_dir():
        return None
    rev = revision or "main"
    ref = repo / "refs" / rev
    commit = ref.read_text().strip() if ref.is_file() else rev
    snapshot = repo / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
