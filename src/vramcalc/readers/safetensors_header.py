"""safetensors headers, validated as strictly as the reference reader (safetensors/src/tensor.rs).

Only the 8-byte length and the JSON header are ever read: inspecting a 10 GB file costs what a 10 KB one does.
The parser takes bytes, so the Hub reader (range requests) and local files share it.
"""

from __future__ import annotations

import json
import struct
from math import prod
from pathlib import Path

from vramcalc.errors import SourceError
from vramcalc.inventory import FileInfo, TensorInfo

MAX_HEADER_BYTES = 100_000_000

# Bits per element (safetensors Dtype::bitsize).
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}
_FIX = "the file is damaged or not safetensors: download it again"
MAX_DIMS = 64  # the reference has no limit; real tensors have at most 5 (conv3d weights)
_LIMIT = 1 << 63  # sizes and offsets are u64 in the reference; past i64 nothing real lies


def _no_constant(token: str) -> float:
    raise ValueError(f"{token} is not JSON")


def header_length(first8: bytes, *, name: str, file_size: int | None) -> int:
    if len(first8) < 8:
        raise SourceError(f"{name}: file too short for a safetensors header ({len(first8)} bytes)", _FIX)
    n: int = struct.unpack("<Q", first8[:8])[0]
    if n > MAX_HEADER_BYTES:  # not a length at all (the file's first bytes, which are not echoed: they may be text)
        raise SourceError(f"{name}: not a safetensors file (its first 8 bytes, read as a header length, are over "
                          "the 100 MB limit safetensors allows)", _FIX)
    if n < 2:
        raise SourceError(f"{name}: not a safetensors file (a header length of {n})", _FIX)
    if file_size is not None and 8 + n > file_size:
        raise SourceError(f"{name}: header claims {n:,} bytes but the file has only {file_size:,}", _FIX)
    return n


def parse_safetensors_header(
    header: bytes, *, name: str, file_size: int | None, component: str = "", file: str | None = None
) -> tuple[list[TensorInfo], dict[str, str]]:
    """Tensors (exact bytes) and `__metadata__` from a header; SourceError for anything the reference rejects."""
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SourceError(f"{name}: header is not valid UTF-8 (byte {e.start})", _FIX) from e
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise SourceError(f"{name}: header is not valid JSON ({e.msg} at char {e.pos})", _FIX) from None
    except ValueError as e:  # NaN/Infinity (serde_json refuses them), an integer past Python's 4,300 digits
        raise SourceError(f"{name}: header is not valid JSON ({e})", _FIX) from None
    except RecursionError:
        raise SourceError(f"{name}: header nests too deeply to be safetensors", _FIX) from None
    if not isinstance(data, dict):
        raise SourceError(f"{name}: header is not a JSON object", _FIX)
    raw_meta = data.pop("__metadata__", None)
    if raw_meta is None:
        raw_meta = {}
    # the reference reads __metadata__ as HashMap<String, String>: anything else (numbers, nested objects) is refused
    if not isinstance(raw_meta, dict) or not all(isinstance(v, str) for v in raw_meta.values()):
        raise SourceError(f"{name}: __metadata__ is not an object of strings", _FIX)
    metadata = dict(raw_meta)
    entries = []
    # `type(x) is int`: what JSON decodes as a whole number, and never a bool (a 90k-tensor header is 90k rounds)
    for tname, info in data.items():
        if type(info) is not dict:
            raise SourceError(f"{name}: entry {tname!r} is not an object", _FIX)
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if type(dtype) is not str:
            raise SourceError(f"{name}: tensor {tname!r} has no dtype", _FIX)
        if type(shape) is not list or len(shape) > MAX_DIMS:
            raise SourceError(f"{name}: tensor {tname!r} has an invalid shape {shape!r}", _FIX)
        for d in shape:
            if type(d) is not int or not 0 <= d < _LIMIT:
                raise SourceError(f"{name}: tensor {tname!r} has an invalid shape {shape!r}", _FIX)
        if not (type(offsets) is list and len(offsets) == 2 and type(begin := offsets[0]) is int
                and type(end := offsets[1]) is int and 0 <= begin <= end < _LIMIT):
            raise SourceError(f"{name}: tensor {tname!r} has invalid data_offsets {offsets!r}", _FIX)
        entries.append((begin, end, tname, dtype, tuple(shape)))
    entries.sort()
    tensors, expected = [], 0
    trusted = TensorInfo.trusted
    for begin, end, tname, dtype, shape in entries:
        if begin != expected:
            kind = "overlap" if begin < expected else "gap"
            raise SourceError(f"{name}: tensor data of {tname!r} starts at {begin} ({kind}; expected {expected})",
                              _FIX)
        bits = DTYPE_BITS.get(dtype)
        numel = prod(shape)
        if bits is not None:
            total_bits = numel * bits
            if total_bits % 8 or total_bits // 8 != end - begin:
                raise SourceError(
                    f"{name}: tensor {tname!r} {dtype}{list(shape)} needs {total_bits / 8:g} bytes but its offsets "
                    f"span {end - begin}", _FIX)
        tensors.append(trusted(tname, dtype, shape, end - begin, component, file, numel))
        expected = end
    if file_size is not None and 8 + len(header) + expected != file_size:
        raise SourceError(
            f"{name}: header and tensor data need {8 + len(header) + expected:,} bytes but the file has "
            f"{file_size:,} (truncated or padded)", _FIX)
    return tensors, metadata


def unknown_dtypes(tensors: list[TensorInfo]) -> list[str]:
    return sorted({t.dtype for t in tensors if t.dtype not in DTYPE_BITS})


def read_safetensors_file(path: Path, *, component: str = "") -> tuple[list[TensorInfo], dict[str, str], FileInfo]:
    from vramcalc.readers.paths import require_regular

    require_regular(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            n = header_length(f.read(8), name=str(path), file_size=size)
            header = f.read(n)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}", "check the path and permissions") from e
    tensors, metadata = parse_safetensors_header(
        header, name=str(path), file_size=size, component=component, file=str(path))
    return tensors, metadata, FileInfo(path=str(path), size=size, header_bytes=8 + n, tensors=len(tensors),
                                       component=component)
