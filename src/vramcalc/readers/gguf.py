"""GGUF headers (llama.cpp `gguf.h` / `docs/gguf.md`): metadata and tensor infos, never the tensor data.

The parser works on a prefix of the file and raises NeedMoreBytes when the prefix ends too early, so the Hub
reader can fetch growing ranges. Counts and lengths a file claims are checked against the bytes that can
exist before anything is allocated.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vramcalc.errors import SourceError
from vramcalc.inventory import TensorInfo

if TYPE_CHECKING:
    from vramcalc.registry import Registry

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
# Arrays longer than this are summarised ({"type": "array", "len": N}) instead of kept (tokenizer vocabularies).
KEEP_ARRAY_LEN = 64
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_PLAIN_NAMES = {0: "F32", 1: "F16", 30: "BF16", 28: "F64", 24: "I8", 25: "I16", 26: "I32", 27: "I64"}
_FIX = "the file is damaged or not a GGUF: download it again"
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def split_stem(name: str) -> str:
    """The name a split GGUF set goes by: "M-Q8_0-00001-of-00002.gguf" → "M-Q8_0.gguf" (others unchanged)."""
    head, _, base = name.rpartition("/")
    m = _SPLIT.match(base)
    return f"{head + '/' if head else ''}{m.group('stem')}.gguf" if m else name


def model_ggufs(names: list[str]) -> dict[str, list[str]]:
    """The models among a folder's or a repo's .gguf files: split parts grouped under their set's name (in part
    order), vision projectors (mmproj-*.gguf, which serve a model beside them) left out."""
    groups: dict[str, list[str]] = {}
    for n in sorted(names):
        if not n.rsplit("/", 1)[-1].lower().startswith("mmproj"):
            groups.setdefault(split_stem(n), []).append(n)
    return groups


# A quant's name inside a GGUF file name (Qwen3-8B-Q4_K_M, model.IQ4_XS, gemma-3-27b-it-BF16, x-UD-Q4_K_XL, …).
_QUANT_TAG = re.compile(r"(?i)(?<![a-z0-9])((?:ud[-_])?(?:i?q\d(?:_[a-z0-9]+)*|tq\d_\d|mxfp4(?:_moe)?|b?f16|fp16|"
                        r"f32|fp32))(?![a-z0-9])")


def quant_tag(name: str) -> str:
    """The quant a GGUF (set) goes by, as `org/name:TAG` names it: "M-Q8_0-00001-of-00002.gguf" → "Q8_0"; the file's
    stem when its name holds none."""
    stem = split_stem(name).rsplit("/", 1)[-1].removesuffix(".gguf")
    found = _QUANT_TAG.findall(stem)
    return found[-1].upper() if found else stem


def quant_tags(groups: dict[str, list[str]]) -> dict[str, str]:
    """`quant_tag` of every group of `model_ggufs`; where two groups share one (two models, or two folders), their
    names instead, so that each tag names one group."""
    tags = {g: quant_tag(g) for g in groups}
    counts: dict[str, int] = {}
    for t in tags.values():
        counts[t.lower()] = counts.get(t.lower(), 0) + 1
    return {g: t if counts[t.lower()] == 1 else g.removesuffix(".gguf") for g, t in tags.items()}


class NeedMoreBytes(Exception):
    def __init__(self, needed: int) -> None:
        super().__init__(f"need at least {needed} bytes")
        self.needed = needed


@dataclass
class GGUFFile:
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    alignment: int
    data_offset: int
    header_bytes: int
    file_size: int | None = None
    files: list[tuple[str, int, int]] = field(default_factory=list)  # (path, size, header bytes)


# Bounds on what a header may make us do, whatever it claims (released GGUFs: ~50 keys, a vocabulary of ≤ 262k
# strings and ≤ 500k merges, ≤ 100k tensors, names of ≤ 64 bytes, a chat template of ≤ 100 kB).
MAX_KV = 1 << 16
MAX_TENSORS = 1 << 20
MAX_NAME = 1 << 16  # bytes of a key or tensor name
MAX_KEPT_STRING = 1 << 20  # a longer string value is skipped, kept as {"type": "string", "len": N}
MAX_STRING_ITEMS = 1 << 22  # strings walked in one header (each must be walked: their lengths differ)
MAX_DIM = 1 << 62
ReadAt = Callable[[int, int], bytes]  # (offset, length) → bytes from there (fewer only at the end of the file)


class _Cursor:
    """Reads a header by position. Over a prefix (`read_at` None): NeedMoreBytes where it ends too early. Over a
    file or a ranged source: windows fetched on demand, and what is skipped (metadata arrays nobody uses) is never
    fetched — a 3 GiB array costs no memory and no request."""

    def __init__(self, buf: bytes, name: str, file_size: int | None, read_at: ReadAt | None = None,
                 window: int = 1 << 20, max_window: int = 32 << 20) -> None:
        self.buf, self.base, self.pos, self.name = buf, 0, 0, name
        self.limit = file_size
        self.read_at, self.window, self.max_window = read_at, window, max_window
        self.strings_walked = 0

    def need(self, n: int) -> None:
        end = self.pos + n
        if self.limit is not None and end > self.limit:
            raise SourceError(f"{self.name}: header runs past the end of the file (at byte {self.pos:,})", _FIX)
        if end <= self.base + len(self.buf):
            return
        if self.read_at is None:
            raise NeedMoreBytes(max(end, 2 * len(self.buf)))
        want = max(n, self.window)
        if self.limit is not None:
            want = min(want, self.limit - self.pos)
        data = self.read_at(self.pos, want)
        while len(data) < n:  # a short answer (a server's piece of a range): the rest, or the end of the file
            more = self.read_at(self.pos + len(data), want - len(data))
            if not more:
                raise SourceError(f"{self.name}: header runs past the end of the file (at byte {self.pos:,})", _FIX)
            data += more
        self.buf, self.base = data, self.pos
        self.window = min(2 * self.window, self.max_window)

    def take(self, n: int) -> bytes:
        self.need(n)
        i = self.pos - self.base
        self.pos += n
        return self.buf[i:i + n]

    def skip(self, n: int) -> None:
        """Past `n` bytes without reading them (checked against the file's size where it is known)."""
        if self.limit is not None and self.pos + n > self.limit:
            raise SourceError(f"{self.name}: header runs past the end of the file (at byte {self.pos:,})", _FIX)
        if self.read_at is None:
            self.need(n)  # a prefix must hold what follows
        self.pos += n

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self.need(size)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos - self.base)
        self.pos += size
        return value

    def count(self, what: str, min_item_bytes: int, most: int | None = None) -> int:
        n = int(self.unpack("<Q"))
        room = (self.limit if self.limit is not None else 1 << 62) - self.pos
        if n * min_item_bytes > room:
            raise SourceError(f"{self.name}: {what} claims {n:,} items, more than the file can hold", _FIX)
        if most is not None and n > most:
            raise SourceError(f"{self.name}: {what} claims {n:,}, more than vramcalc reads ({most:,})", _FIX)
        return n

    def string(self, what: str = "string", most: int = MAX_NAME) -> str:
        n = self.count(f"{what} length", 1, most)
        raw = self.take(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SourceError(f"{self.name}: {what} is not valid UTF-8", _FIX) from e

    def walk_string(self) -> int:
        """Past one string of an array, unread; its length."""
        self.strings_walked += 1
        if self.strings_walked > MAX_STRING_ITEMS:
            raise SourceError(f"{self.name}: metadata holds more than {MAX_STRING_ITEMS:,} strings, more than "
                              "vramcalc reads", _FIX)
        n = self.count("string length", 1)
        self.skip(n)
        return n


def _value(c: _Cursor, vtype: int, depth: int = 0) -> Any:
    if vtype in _SCALARS:
        return c.unpack(_SCALARS[vtype])
    if vtype == 8:
        n = c.count("string length", 1)
        if n > MAX_KEPT_STRING:  # a giant value nobody reads: skipped, its length kept
            c.skip(n)
            return {"type": "string", "len": n}
        c.pos -= 8
        return c.string("string value", MAX_KEPT_STRING)
    if vtype == 9:
        if depth > 2:
            raise SourceError(f"{c.name}: arrays nested too deeply", _FIX)
        etype = c.unpack("<i")
        if etype in _SCALARS:
            size = struct.calcsize(_SCALARS[etype])
            n = c.count("array", size)
            if n > KEEP_ARRAY_LEN:
                c.skip(n * size)
                return {"type": "array", "len": n}
            return [_value(c, etype) for _ in range(n)]
        if etype == 8:
            n = c.count("array", 8)
            if n > KEEP_ARRAY_LEN:  # a vocabulary: walked past, not decoded
                for _ in range(n):
                    c.walk_string()
                return {"type": "array", "len": n}
            return [_value(c, etype) for _ in range(n)]
        if etype == 9:
            n = c.count("array", 12, KEEP_ARRAY_LEN)
            return [_value(c, etype, depth + 1) for _ in range(n)]
        raise SourceError(f"{c.name}: unknown array element type {etype}", _FIX)
    raise SourceError(f"{c.name}: unknown metadata value type {vtype}", _FIX)


def parse_gguf_prefix(buf: bytes, *, name: str, file_size: int | None, registry: Registry | None = None,
                      read_at: ReadAt | None = None) -> GGUFFile:
    """The header of a GGUF from its first bytes `buf` (NeedMoreBytes when they end too early), or from `read_at`
    (bytes at an offset: a file, range requests), which fetches what it needs and skips what nobody reads. Types
    are looked up in `registry` (the caller's, with its --formats files)."""
    if registry is None:
        from vramcalc.registry import load_registry

        registry = load_registry()
    c = _Cursor(buf, name, file_size, read_at)
    head = c.take(4)
    if head != MAGIC:
        raise SourceError(f"{name}: not a GGUF file (magic {head!r})", "give a .gguf file made by llama.cpp")
    version = c.unpack("<I")
    if version not in (2, 3):
        raise SourceError(f"{name}: GGUF version {version} is not supported (2 and 3 are)", "convert it again")
    n_tensors = c.count("tensor count", 8 + 4 + 4 + 8, MAX_TENSORS)
    n_kv = c.count("metadata count", 8 + 4, MAX_KV)
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = c.string("metadata key")
        metadata[key] = _value(c, c.unpack("<i"))
    alignment = _alignment(metadata.get("general.alignment", DEFAULT_ALIGNMENT), name)
    tensors, expected, data_end = [], 0, 0
    for _ in range(n_tensors):
        tname = c.string("tensor name")
        n_dims = c.unpack("<I")
        if n_dims > MAX_DIMS:
            raise SourceError(f"{name}: tensor {tname!r} has {n_dims} dimensions (at most {MAX_DIMS})", _FIX)
        dims = [c.unpack("<q") for _ in range(n_dims)]
        type_id, offset = c.unpack("<i"), c.unpack("<Q")
        if any(d < 0 for d in dims):
            raise SourceError(f"{name}: tensor {tname!r} has a negative dimension {dims}", _FIX)
        spec = registry.for_ggml_type(type_id)
        if spec is None or spec.block_bytes is None and type_id not in _PLAIN_NAMES:
            raise SourceError(f"{name}: tensor {tname!r} has ggml type {type_id}, which vramcalc does not know",
                              "update vramcalc, or add the type to a --formats file")
        numel = 1
        for d in dims:
            numel *= d
        if numel > MAX_DIM:
            raise SourceError(f"{name}: tensor {tname!r} of shape {dims} has more elements than any file holds", _FIX)
        block = spec.block_size or 1
        if dims and dims[0] % block:
            raise SourceError(f"{name}: tensor {tname!r} row of {dims[0]} is not a multiple of {spec.name}'s "
                              f"block of {block}", _FIX)
        per_block = spec.block_bytes if spec.block_bytes is not None else spec.bits_per_weight / 8
        nbytes = int(numel // block * per_block)
        if offset != expected:
            raise SourceError(f"{name}: tensor {tname!r} at data offset {offset}, expected {expected}", _FIX)
        expected = offset + -(-nbytes // alignment) * alignment
        data_end = offset + nbytes
        tensors.append(TensorInfo.trusted(
            name=tname, dtype=_PLAIN_NAMES.get(type_id, spec.name), shape=tuple(reversed(dims)), nbytes=nbytes,
            component="", file=name))
    data_offset = -(-c.pos // alignment) * alignment
    if file_size is not None and tensors:
        end = data_offset + data_end
        if end > file_size:
            raise SourceError(f"{name}: tensor data needs {end:,} bytes but the file has {file_size:,} (truncated)",
                              _FIX)
    return GGUFFile(version, metadata, tensors, alignment, data_offset, data_offset, file_size,
                    [(name, file_size or 0, data_offset)])


def _alignment(value: Any, name: str) -> int:
    """general.alignment: a whole power of two (llama.cpp reads it as a u32); anything else is named, not used."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1 << 30 or value & (value - 1):
        shown = value if isinstance(value, int | float) else type(value).__name__
        raise SourceError(f"{name}: general.alignment {shown!r} is not a power of two", _FIX)
    return value


def _read_one(path: Path, registry: Registry | None) -> GGUFFile:
    from vramcalc.readers.paths import require_regular

    require_regular(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        def read_at(offset: int, n: int) -> bytes:
            f.seek(offset)
            return f.read(n)

        return parse_gguf_prefix(b"", name=str(path), file_size=size, registry=registry, read_at=read_at)


def read_gguf_file(path: Path, registry: Registry | None = None) -> GGUFFile:
    """One .gguf, or every part of a split `name-0000k-of-0000n.gguf` set, summed."""
    try:
        m = _SPLIT.match(path.name)
        if not m:
            return _read_one(path, registry)
        count = int(m.group("count"))
        parts = [path.with_name(f"{m.group('stem')}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise SourceError(f"split GGUF {path.name}: missing part(s) {', '.join(missing[:8])}"
                              + (f" (and {len(missing) - 8} more)" if len(missing) > 8 else ""),
                              "download every part into the same folder")
        files = [_read_one(p, registry) for p in parts]
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}", "check the path and permissions") from e
    first = files[0]
    return GGUFFile(first.version, first.metadata, [t for f in files for t in f.tensors], first.alignment,
                    first.data_offset, sum(f.header_bytes for f in files), sum(f.file_size or 0 for f in files),
                    [x for f in files for x in f.files])
