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
    from vramcalc.registry import Registry

__all__ = ["QuantSet", "from_hub_url", "looks_like_repo_id", "resolve_model"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?::[\w.-]+)?$")  # org/name, or org/name:Q4_K_M


_HUB_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)"
    r"(?::(?P<tag>[\w.-]+))?(?:/(?:tree|blob|resolve)/(?P<rev>[^/]+)(?:/(?P<file>.+))?)?/?$")


def looks_like_repo_id(text: str) -> bool:
    from vramcalc.readers.paths import valid_repo_id

    return (len(text) <= 256 and bool(_REPO_ID.match(text)) and not text.startswith((".", "/"))
            and valid_repo_id(text.partition(":")[0]))


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
    progress: Callable[[int, int], None] | None = None, quant_set: Literal[False], registry: Registry | None = None,
    refresh: bool = False,
) -> ModelLabel | Inventory: ...
@overload
def resolve_model(
    text: str, *, revision: str | None = None, token: str | None = None,
    progress: Callable[[int, int], None] | None = None, quant_set: bool = True, registry: Registry | None = None,
    refresh: bool = False,
) -> ModelLabel | Inventory | QuantSet: ...
def resolve_model(
    text: str, *, revision: str | None = None, token: str | None = None,
    progress: Callable[[int, int], None] | None = None, quant_set: bool = True, registry: Registry | None = None,
    refresh: bool = False,
) -> ModelLabel | Inventory | QuantSet:
    """A local path wins; then a count or label; then a Hub repo id (local cache first, then the Hub) or a pasted
    Hub address. A repo or folder of several GGUF quants, none named, is a QuantSet of them all; with
    `quant_set=False` (commands that take one model) an error that lists them and says how to name one. GGUF types are
    looked up in `registry` (the command's, with its --formats files)."""
    if not text.strip():  # Path("") is the current folder: never read it for an empty argument
        raise UsageError("empty model argument", "give a count such as 12B, a path or a Hub id such as org/name")
    url = from_hub_url(text) if "huggingface.co/" in text or "hf.co/" in text else None
    if url is not None:
        text, url_rev, _ = url
        revision = revision or url_rev
    if revision is not None:
        from vramcalc.readers.paths import valid_revision

        if not valid_revision(revision):
            raise UsageError(f"--revision {revision[:100]!r} is not a branch, tag or commit",
                             "give one such as main, v1.0, refs/pr/1 or a commit hash (no '..', no leading '/')")
    path = Path(text).expanduser()
    if _exists(path):
        from vramcalc.readers import read_local

        return read_local(path, quant_set=quant_set, registry=registry)
    try:
        return parse_label(text)
    except UsageError:
        if looks_like_repo_id(text):
            from vramcalc.readers import read_repo

            repo, _, tag = text.partition(":")
            return read_repo(repo, revision=revision, token=token, progress=progress, gguf_tag=tag or None,
                             quant_set=quant_set, registry=registry, refresh=refresh)
        if any(sep in text for sep in ("/", "\\")) or text.endswith((".json", ".safetensors", ".gguf")):
            raise UsageError(
                f"no such file or folder: {text[:300]}", "check the path, or give a Hub id such as org/name"
            ) from None
        raise


def _exists(path: Path) -> bool:
    """Path.exists() without its errors: a name longer than the file system allows (ENAMETOOLONG), a NUL byte,
    a folder without permission — none of them is a model to read, so the text is read as a label or a repo id."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False
