"""What a Hub read fetched, kept so that the next run of the same repo needs no network (HF_HUB_OFFLINE=1 included).

Beside the registry's cache ($VRAMCALC_CACHE_DIR, else ~/.cache/vramcalc; "off" disables it), under
`hub/models--org--name/`: `refs/<revision>` holds the commit the Hub listed (as huggingface_hub's cache does),
`<commit>.json` the listing (each file's size and blob id) and the JSON files read (config.json, the index, a
pipeline's model_index.json and component configs), and `headers/<blob id>` each safetensors header, exactly its
bytes (length prefix and JSON), or a GGUF header as it was read (the first range and each window the parser asked
for, cut where the tensor data begins: the same parse replays from them). Blob ids are the Hub's content
addresses, so a header is stored once whatever revision lists it.

Not in the Hugging Face cache itself: a header is not the file, and a shard's name in a snapshot must hold the whole
file — transformers would load a truncated one. A branch (main) is trusted for REF_TTL, then listed again; a commit
never changes. Everything here is read as untrusted as any download: names checked, sizes bounded, the JSON parsed
by the same bounded parser.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

from vramcalc.cache_files import read_cached, write_cached
from vramcalc.readers.paths import plain_name, stays_inside

REF_TTL = 24 * 3600.0  # seconds a branch's cached commit is used before the Hub is asked again
MAX_MANIFEST_BYTES = 64 << 20  # the listing and JSON files (DeepSeek-V3's index alone is ~9 MB)
MAX_HEADER_BYTES = 100_000_008  # safetensors' own header limit, with its length prefix


def _root() -> Path | None:
    from vramcalc.cache_files import cache_dir

    base = cache_dir()
    return base / "hub" if base is not None else None


def _repo_dir(repo_id: str) -> Path | None:
    root = _root()
    return root / f"models--{repo_id.replace('/', '--')}" if root is not None else None


def _blob_name(blob_id: object) -> str | None:
    return blob_id if isinstance(blob_id, str) and 8 <= len(blob_id) <= 128 and blob_id.isalnum() else None


class CachedRepo:
    """A repo as the cache holds it: the listing, the JSON files and the headers, by name."""

    def __init__(self, folder: Path, commit: str, data: dict[str, Any]) -> None:
        self.folder, self.commit = folder, commit
        raw_files = data.get("files")
        raw_jsons = data.get("jsons")
        self.sizes: dict[str, int | None] = {}
        self.blobs: dict[str, str] = {}
        for name, entry in (raw_files.items() if isinstance(raw_files, dict) else []):
            if not isinstance(name, str) or not stays_inside(name) or not isinstance(entry, list) or len(entry) != 2:
                continue
            size, blob = entry
            self.sizes[name] = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
            if (b := _blob_name(blob)) is not None:
                self.blobs[name] = b
        self.jsons = {k: v for k, v in (raw_jsons.items() if isinstance(raw_jsons, dict) else [])
                      if isinstance(k, str) and k in self.sizes and (v is None or isinstance(v, dict))}

    def header(self, name: str) -> bytes | None:
        blob = self.blobs.get(name)
        if blob is None:
            return None
        data = read_cached(self.folder / "headers" / blob, MAX_HEADER_BYTES)
        return data if data is not None and len(data) > 8 else None



def load(repo_id: str, revision: str | None, *, offline: bool) -> CachedRepo | None:
    """The cached state of `repo_id` at `revision`, or None (not cached, a branch's entry past REF_TTL while online,
    or anything unreadable — then the Hub is asked, as if there were no cache)."""
    folder = _repo_dir(repo_id)
    if folder is None:
        return None
    rev = revision or "main"
    commit = rev
    ref = folder / "refs" / rev
    try:
        if plain_name(rev) and ref.is_file():
            if not offline and time.time() - ref.stat().st_mtime > REF_TTL:
                return None
            commit = (read_cached(ref, 128) or b"").decode("utf-8", "replace").strip()
        raw = read_cached(folder / f"{commit}.json", MAX_MANIFEST_BYTES) if plain_name(commit) else None
        if raw is None:
            return None
        data = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return None
    return CachedRepo(folder, commit, data) if isinstance(data, dict) else None


def save(repo_id: str, revision: str | None, commit: str | None, listing: dict[str, tuple[int | None, str | None]],
         jsons: dict[str, dict[str, Any] | None], headers: dict[str, bytes]) -> None:
    """Keep what a read fetched. Best effort: a cache that cannot be written (read-only, full) is skipped
    silently, and every file is written whole or not at all (written aside, then renamed)."""
    folder = _repo_dir(repo_id)
    if folder is None or commit is None or not plain_name(commit) or not 7 <= len(commit) <= 64:
        return
    try:
        (folder / "headers").mkdir(parents=True, exist_ok=True)
        for name, head in headers.items():
            blob = _blob_name(listing.get(name, (None, None))[1])
            # a blob id names one content on the Hub; a mirror that reuses ids must not leave a stale header behind
            if blob is not None and read_cached(folder / "headers" / blob, MAX_HEADER_BYTES) != head:
                _write(folder / "headers" / blob, head)
        data = {"repo": repo_id, "commit": commit, "files": {n: [s, b] for n, (s, b) in listing.items()},
                "jsons": jsons}
        _write(folder / f"{commit}.json", json.dumps(data, separators=(",", ":")).encode())
        rev = revision or "main"
        if rev != commit and plain_name(rev):
            (folder / "refs").mkdir(exist_ok=True)
            _write(folder / "refs" / rev, commit.encode())
    except OSError:
        pass


def _write(path: Path, data: bytes) -> None:
    if not write_cached(path, data):
        raise OSError(f"cannot write {path}")


_RANGES_MAGIC = b"vramcalc-ranges-1\n"
_RANGE_HEAD = struct.Struct("<QQ")


def encode_ranges(ranges: list[tuple[int, bytes]]) -> bytes:
    """A GGUF header as it was read (its first bytes and each window the parser asked for), as one blob."""
    return _RANGES_MAGIC + b"".join(_RANGE_HEAD.pack(offset, len(data)) + data for offset, data in ranges)


def decode_ranges(blob: bytes) -> dict[int, bytes]:
    """encode_ranges' blob back to {offset: bytes}; {} for anything else (a damaged cache is a miss)."""
    if not blob.startswith(_RANGES_MAGIC):
        return {}
    out: dict[int, bytes] = {}
    pos = len(_RANGES_MAGIC)
    while pos < len(blob):
        if pos + _RANGE_HEAD.size > len(blob):
            return {}
        offset, n = _RANGE_HEAD.unpack_from(blob, pos)
        pos += _RANGE_HEAD.size
        if pos + n > len(blob):
            return {}
        out[offset] = blob[pos:pos + n]
        pos += n
    return out
