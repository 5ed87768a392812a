"""Names that files and servers hand us, checked before they become a path or a URL.

A shard named in an index, a component in model_index.json, a file in a repo listing, an HF-cache ref and a
`--revision` all end up joined to a folder or put in a request; each must stay where it was found: no absolute
paths, no `..`, no backslashes, no control characters. A regular-file check refuses FIFOs and devices before they
are opened for reading (opening a FIFO blocks until a writer comes).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

MAX_NAME = 1024  # characters in a path named inside a file (real ones: under 200)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# huggingface_hub's validate_repo_id: letters, digits, "-", "_", "." up to 96 characters, no "--" or "..", not
# starting or ending with "-" or "."
_REPO_PART = re.compile(r"^(?!.*(?:--|\.\.))[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?$")


def stays_inside(name: str) -> bool:
    """A relative path named inside a file (an index's weight_map, a repo listing) that stays inside the folder or
    repo holding that file: no absolute path, no `..` (nor `.` or empty) part, no backslash or control character."""
    if not name or len(name) > MAX_NAME or "\\" in name or _CONTROL.search(name) or name.startswith("/"):
        return False
    parts = name.split("/")
    return all(p not in ("", ".", "..") for p in parts) and not Path(name).is_absolute()


def plain_name(name: str) -> bool:
    """One path component (a pipeline component's folder): stays_inside and no `/`."""
    return stays_inside(name) and "/" not in name


def valid_revision(revision: str) -> bool:
    """A branch, tag, commit or `refs/pr/N`: slashes allowed, `..` and the rest refused."""
    return len(revision) <= 256 and stays_inside(revision) and not revision.startswith("-")


def valid_repo_id(repo_id: str) -> bool:
    """`org/name` as the Hub accepts it (so that nothing else is ever put in a request's path)."""
    parts = repo_id.split("/")
    return len(parts) == 2 and all(_REPO_PART.match(p) for p in parts) and not parts[1].endswith(".git")


def is_regular(path: Path) -> bool:
    """A regular file (after symlinks); False for FIFOs, devices, sockets, folders and what does not exist."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def require_regular(path: Path) -> None:
    """SourceError unless `path` is a regular file: reading a FIFO would wait for a writer, a device never ends."""
    from vramcalc.errors import SourceError

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SourceError(f"{path} does not exist", "check the path") from None
    except (OSError, ValueError) as e:
        raise SourceError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}", "check the path") from None
    if not stat.S_ISREG(mode):
        raise SourceError(f"{path} is not a regular file", "give a model file or folder (not a FIFO or a device)")
