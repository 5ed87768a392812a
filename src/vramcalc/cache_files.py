"""vramcalc's own cache folder and the two ways every cache file is touched: read as untrusted data (a regular
file, opened without blocking, bounded), and written whole or not at all. Used by the registry's validated copy,
the llama.cpp rule walks and the Hub header cache."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path | None:
    """$VRAMCALC_CACHE_DIR, else $XDG_CACHE_HOME/vramcalc (~/.cache/vramcalc); None when set to "off"."""
    base = os.environ.get("VRAMCALC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vramcalc")
    return None if base.strip().lower() in ("off", "none", "") else Path(base)


def read_cached(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None: missing, not a regular file (opened without blocking: a FIFO put there must not
    hang us), or larger than `limit`."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                return None
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def write_cached(path: Path, data: bytes) -> bool:
    """Write beside, then rename: a reader sees the old file or the new one, never half of one. False where the
    cache cannot be written (read-only, full): the caller runs uncached."""
    import tempfile

    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, prefix=f".{path.name}.", suffix=".tmp") as f:
            tmp = f.name
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False
    return True
