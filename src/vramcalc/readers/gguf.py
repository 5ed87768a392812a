"""GGUF headers (llama.cpp `gguf.h` / `docs/gguf.md`): metadata and tensor infos, never the tensor data.

The parser works on a prefix of the file and raises NeedMoreBytes when the prefix ends too early, so the Hub
reader can fetch growing ranges. Counts and lengths a file claims are checked against the bytes that can
exist before anything is allocated.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vramcalc.errors import SourceError
from vramcalc.inventory import TensorInfo

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


class _Cursor:
    def __init__(self, buf: bytes, name: str, file_size: int | None) -> None:
        self.buf, self.pos, self.name = buf, 0, name
        self.limit = file_size if file_size is not None else None

    def need(self, n: int) -> None:
        end = self.pos + n
        if self.limit is not None and end > self.limit:
            raise SourceError(f"{self.name}: header runs past the end of the file (at byte {self.pos:,})", _FIX)
        if end > len(self.buf):
            raise NeedMoreBytes(max(end, 2 * len(self.buf)))

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self.need(size)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def count(self, what: str, min_item_bytes: int) -> int:
        n = int(self.unpack("<Q"))
        room = (self.limit if self.limit is not None else 1 << 62) - self.pos
        if n * min_item_bytes > room:
            raise SourceError(f"{self.name}: {what} claims {n:,} items, more than the file can hold", _FIX)
        return n

    def string(self, what: str = "string") -> str:
        n = self.count(f"{what} length", 1)
        self.need(n)
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SourceError(f"{self.name}: {what} is not valid UTF-8", _FIX) from e


def _value(c: _Cursor, vtype: int, depth: int = 0) -> Any:
    if vtype in _SCALARS:
        return c.unpack(_SCALARS[vtype])
    if vtype == 8:
        return c.string()
    if vtype == 9:
        if depth > 2:
            raise SourceError(f"{c.name}: arrays nested too deeply", _FIX)
        etype = c.unpack("<i")
        if etype in _SCALARS:
            size = struct.calcsize(_SCALARS[etype])
            n = c.count("array", size)
            if n > KEEP_ARRAY_LEN:
                c.need(n * size)
                c.pos += n * size
                return {"type": "array", "len": n}
            return [_value(c, etype) for _ in range(n)]
        if etype in (8, 9):
            n = c.count("array", 8)
            items = [_value(c, etype, depth + 1) for _ in range(n)]
            return items if n <= KEEP_ARRAY_LEN else {"type": "array", "len": n}
        raise SourceError(f"{c.name}: unknown array element type {etype}", _FIX)
    raise SourceError(f"{c.name}: unknown metadata value type {vtype}", _FIX)


def parse_gguf_prefix(buf: bytes, *, name: str, file_size: int | None) -> GGUFFile:
    from vramcalc.registry import load_registry

    c = _Cursor(buf, name, file_size)
    c.need(4)
    if buf[:4] != MAGIC:
        raise SourceError(f"{name}: not a GGUF file (magic {buf[:4]!r})", "give a .gguf file made by llama.cpp")
    c.pos = 4
    version = c.unpack("<I")
    if version not in (2, 3):
        raise SourceError(f"{name}: GGUF version {version} is not supported (2 and 3 are)", "convert it again")
    n_tensors = c.count("tensor count", 8 + 4 + 4 + 8)
    n_kv = c.count("metadata count", 8 + 4)
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = c.string("metadata key")
        metadata[key] = _value(c, c.unpack("<i"))
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    if alignment <= 0 or alignment & (alignment - 1):
        raise SourceError(f"{name}: general.alignment {alignment} is not a power of two", _FIX)
    registry = load_registry()
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
        tensors.append(TensorInfo.model_construct(
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


def _read_one(path: Path) -> GGUFFile:
    size = path.stat().st_size
    chunk = 1 << 20
    with path.open("rb") as f:
        buf = f.read(chunk)
        while True:
            try:
                return parse_gguf_prefix(buf, name=str(path), file_size=size)
            except NeedMoreBytes as more:
                if len(buf) >= size:
                    raise SourceError(f"{path}: header runs past the end of the file", _FIX) from None
                f.seek(0)
                buf = f.read(min(size, max(more.needed, 2 * len(buf))))


def read_gguf_file(path: Path) -> GGUFFile:
    """One .gguf, or every part of a split `name-0000k-of-0000n.gguf` set, summed."""
    try:
        m = _SPLIT.match(path.name)
        if not m:
            return _read_one(path)
        count = int(m.group("count"))
        parts = [path.with_name(f"{m.group('stem')}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise SourceError(f"split GGUF {path.name}: missing part(s) {', '.join(missing)}",
                              "download every part into the same folder")
        files = [_read_one(p) for p in parts]
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}", "check the path and permissions") from e
    first = files[0]
    return GGUFFile(first.version, first.metadata, [t for f in files for t in f.tensors], first.alignment,
                    first.data_offset, sum(f.header_bytes for f in files), sum(f.file_size or 0 for f in files),
                    [x for f in files for x in f.files])
