"""Turn what the user typed into either a label (a parameter count, maybe with a format) or an inventory."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vramcalc.errors import UsageError
from vramcalc.units import ModelLabel, parse_label

if TYPE_CHECKING:
    from vramcalc.inventory import Inventory

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?::[\w.-]+)?$")  # org/name, or org/name:Q4_K_M


def looks_like_repo_id(text: str) -> bool:
    return bool(_REPO_ID.match(text)) and not text.startswith((".", "/"))


def resolve_model(
    text: str, *, revision: str | None = None, token: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ModelLabel | Inventory:
    """A local path wins; then a count or label; then a Hub repo id (local cache first, then the Hub)."""
    path = Path(text).expanduser()
    if path.exists():
        from vramcalc.readers import read_local

        return read_local(path)
    try:
        return parse_label(text)
    except UsageError:
        if looks_like_repo_id(text):
            from vramcalc.readers import read_repo

            repo, _, tag = text.partition(":")
            return read_repo(repo, revision=revision, token=token, progress=progress, gguf_tag=tag or None)
        if any(sep in text for sep in ("/", "\\")) or text.endswith((".json", ".safetensors", ".gguf")):
            raise UsageError(
                f"no such file or folder: {text}", "check the path, or give a Hub id such as org/name"
            ) from None
        raise
