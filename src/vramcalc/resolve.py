"""Turn what the user typed into either a label (a parameter count, maybe with a format) or an inventory."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from vramcalc.errors import UsageError
from vramcalc.readers import QuantSet
from vramcalc.units import ModelLabel, parse_label

if TYPE_CHECKING:
    from vramcalc.inventory import Inventory

__all__ = ["QuantSet", "from_hub_url", "looks_like_repo_id", "resolve_model"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?::[\w.-]+)?$")  # org/name, or org/name:Q4_K_M


_HUB_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)"
    r"(?::(?P<tag>[\w.-]+))?(?:/(?:tree|blob|resolve)/(?P<rev>[^/]+)(?:/(?P<file>.+))?)?/?$")


def looks_like_repo_id(text: str) -> bool:
    return bool(_REPO_ID.match(text)) and not text.startswith((".", "/"))


def from_hub_url(text: str) -> tuple[str, str | None, str | None] | None:
    """A pasted Hub address → (org/name[:tag], revision, file): https://huggingface.co/org/name, …/tree/v2,
    …/blob/main/model-Q4_K_M.gguf (that file), hf.co/org/name:Q4_K_M (as Ollama writes it)."""
    m = _HUB_URL.match(text.strip())
    if m is None:
        return None
    repo, tag, rev, file = m.group("repo"), m.group("tag"), m.group("rev"), m.group("file")
    if file and file.endswith(".gguf"):  # that file (all parts of it, if it is split)
        from vramcalc.readers.gguf import split_stem

        tag = split_stem(file.rsplit("/", 1)[-1]).removesuffix(".gguf")
    return (f"{repo}:{tag}" if tag else repo), (rev if rev and rev != "main" else None), file


@overload
def resolve_model(
    text: str, *, revision: str | None = None, token: str | None = None,
    progress: Callable[[int, int], None] | None = None, quant_set: Literal[False],
) -> ModelLabel | Inventory: ...
@overload
def resolve_model(
    text: str, *, revision: str | None = None, token: str | None = None,
    progress: Callable[[int, int], None] | None = None, quant_set: bool = True,
) -> ModelLabel | Inventory | QuantSet: ...
def resolve_model(
    text: str, *, revision: str | None = None, token: str | None = None,
    progress: Callable[[int, int], None] | None = None, quant_set: bool = True,
) -> ModelLabel | Inventory | QuantSet:
    """A local path wins; then a count or label; then a Hub repo id (local cache first, then the Hub) or a pasted
    Hub address. A repo or folder of several GGUF quants, none named, is a QuantSet of them all; with
    `quant_set=False` (commands that take one model) an error that lists them and says how to name one."""
    url = from_hub_url(text) if "huggingface.co/" in text or "hf.co/" in text else None
    if url is not None:
        text, url_rev, _ = url
        revision = revision or url_rev
    path = Path(text).expanduser()
    if path.exists():
        from vramcalc.readers import read_local

        return read_local(path, quant_set=quant_set)
    try:
        return parse_label(text)
    except UsageError:
        if looks_like_repo_id(text):
            from vramcalc.readers import read_repo

            repo, _, tag = text.partition(":")
            return read_repo(repo, revision=revision, token=token, progress=progress, gguf_tag=tag or None,
                             quant_set=quant_set)
        if any(sep in text for sep in ("/", "\\")) or text.endswith((".json", ".safetensors", ".gguf")):
            raise UsageError(
                f"no such file or folder: {text}", "check the path, or give a Hub id such as org/name"
            ) from None
        raise
