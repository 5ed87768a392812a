"""The format registry: `formats.toml` loaded and validated with pydantic.

Each format describes how a weight is *stored*: payload bits per element and the per-block (or per-row,
per-tensor, per-tile) overhead of scales, zero points and second-level scales. Bits per weight are
computed from that layout, never typed in. Users add or override formats with their own TOML
(`--formats FILE` or `VRAMCALC_FORMATS`), validated the same way.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vramcalc.errors import RegistryError, UnknownFormatError, UsageError

FORMATS_ENV = "VRAMCALC_FORMATS"

Family = Literal[
    "float", "int", "fp8", "microscaling", "gguf_type", "gguf_mix", "gptq", "awq", "bitsandbytes",
    "onnx", "hqq", "aqlm", "quip", "exl2", "compressed_tensors", "mlx",
]
# Where an overhead term is paid: once per block of `block_size` weights along a row; once per `every`
# blocks (second-level scales); once per row (output channel) or column (input feature); once per
# tile of `tile` = [rows, cols]; once per tensor; or once per quantized layer (AQLM codebooks).
Per = Literal["block", "blocks", "row", "column", "tile", "tensor"]
Scope = Literal["all", "linear", "none"]
FAMILIES: tuple[str, ...] = get_args(Family)
_MAX_OVERHEAD_BITS = 1 << 32
_MAX_SPAN = 1 << 20  # a block, group, tile side or second-level span, in weights or blocks


class Overhead(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(description="what the bits hold, e.g. 'fp16 scale d'")
    # bounded like the payload: an AQLM codebook (2^16 × 8 fp16 per layer) is 2^23 bits, 2^32 is far above any
    bits: Annotated[int, Field(ge=0, le=_MAX_OVERHEAD_BITS)]
    per: Per
    every: Annotated[int, Field(ge=1, le=_MAX_SPAN)] | None = Field(None, description="blocks per second-level group")
    tile: tuple[Annotated[int, Field(ge=1, le=_MAX_SPAN)], Annotated[int, Field(ge=1, le=_MAX_SPAN)]] | None = None
    follows_bits: bool = Field(
        False, description="as wide as the weights (a b-bit zero point): --bits changes it with the payload"
    )

    @model_validator(mode="after")
    def _check_shape_fields(self) -> Overhead:
        if self.per == "blocks" and self.every is None:
            raise ValueError("per = 'blocks' needs `every` (how many blocks share it)")
        if self.per == "tile" and self.tile is None:
            raise ValueError("per = 'tile' needs `tile = [rows, cols]`")
        return self


class FormatSpec(BaseModel):
    """One weight storage format."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str
    aliases: list[str] = []
    family: Family
    payload_bits: Annotated[float, Field(gt=0, le=64)] | None = Field(
        None, description="bits per stored element; a gguf_mix takes its base type's layout"
    )
    block_size: Annotated[int, Field(ge=1, le=_MAX_SPAN)] | None = None
    overhead: list[Overhead] = []
    quantizes: Scope = "all"
    keep_dtype: str = Field("source", description="dtype of tensors this format leaves alone")
    quantize_embeddings: bool = False
    quantize_lm_head: bool = False
    storage_dtypes: list[str] = Field([], description="safetensors dtype names stored in this format")
    ggml_type: Annotated[int, Field(ge=0, le=(1 << 31) - 1)] | None = None
    llama_ftype: Annotated[int, Field(ge=0, le=(1 << 31) - 1)] | None = Field(
        None, description="llama.h llama_ftype id a GGUF of this file type records in general.file_type")
    base_type: str | None = Field(None, description="gguf_mix: the llama.cpp default tensor type")
    fallback: str | None = Field(
        None, description="gguf_type: the type llama-quantize uses for a row no block of this type divides "
                          "(llama-quant.cpp tensor_type_fallback)")
    decoder_only: bool = Field(
        False, description="the quantizer walks the decoder blocks only: a vision tower keeps its dtype "
                           "(AutoGPTQ/GPTQModel, AutoAWQ, exllamav2, AQLM, QuIP#)")
    needs_imatrix: bool = Field(
        False, description="llama.cpp file type llama-quantize refuses without an importance matrix")
    file_type: str | None = Field(
        None, description="gguf_type: the llama-quantize file type this type stands for, when named otherwise "
                          "(Q4_K → Q4_K_M)")
    file_type_default: str | None = Field(
        None, description="gguf_type: the default tensor type of the same-named file type, when another "
                          "(the IQ2_S file type defaults to IQ2_XS tensors: llama_ftype_get_default_type)")
    configurable: list[Literal["group_size", "scale_bits", "bits"]] = []
    nominal_bits: Annotated[float, Field(gt=0, le=64)] | None = Field(
        None, description="the bit width users name, where storage rounds it up (HQQ 5-bit is stored in 8)"
    )
    stored_as: dict[int, Annotated[float, Field(gt=0, le=64)]] = Field(
        {}, description="nominal bits → bits each value takes once packed; used by --bits (HQQ: 3 → 3.2, 5 → 8)"
    )
    value_range: str | None = Field(None, description="integers: the values an element can hold")
    notes: str = ""
    source: str = ""

    @field_validator("name")
    @classmethod
    def _name_is_plain(cls, v: str) -> str:
        if not v.strip() or any(c.isspace() for c in v):
            raise ValueError("name must be a non-empty word without spaces")
        return v

    @model_validator(mode="after")
    def _check_layout(self) -> FormatSpec:
        if any(o.per in ("block", "blocks") for o in self.overhead) and self.block_size is None:
            raise ValueError("overhead per block needs `block_size`")
        if self.family == "gguf_mix" and self.base_type is None:
            raise ValueError("a gguf_mix needs `base_type`")
        if self.family != "gguf_mix" and self.payload_bits is None:
            raise ValueError("`payload_bits` is required (only a gguf_mix may leave it to its base_type)")
        if self.nominal_bits is not None and self.payload_bits is not None and self.nominal_bits > self.payload_bits:
            raise ValueError("`nominal_bits` cannot exceed `payload_bits` (payload_bits is what is stored)")
        for nominal, stored in self.stored_as.items():
            if stored < nominal:
                raise ValueError(f"`stored_as`: {nominal}-bit values cannot take fewer bits ({stored}) once stored")
        width = self.nominal_bits if self.nominal_bits is not None else self.payload_bits
        for o in self.overhead:
            if o.follows_bits and width is not None and o.bits != width:
                raise ValueError(f"overhead {o.name!r} follows the weights' width, so it must be {width:g} bits")
        return self

    @cached_property
    def payload(self) -> Fraction:
        if self.payload_bits is None:
            raise RegistryError(f"{self.name} is a mix of llama.cpp types and has no single layout",
                                f"price it through its base type {self.base_type}")
        return Fraction(str(self.payload_bits))

    @cached_property
    def bits_per_weight(self) -> Fraction:
        """Asymptotic bits per weight from the layout: payload + per-block and per-tile overhead.

        Per-row, per-column and per-tensor terms depend on the tensor's shape; they are priced per
        tensor by the calculator and listed by `shape_dependent_overhead`.
        """
        bpw = self.payload
        for o in self.overhead:
            if o.per == "block":
                bpw += Fraction(o.bits, self.block_size or 1)
            elif o.per == "blocks":
                bpw += Fraction(o.bits, (self.block_size or 1) * (o.every or 1))
            elif o.per == "tile" and o.tile is not None:
                bpw += Fraction(o.bits, o.tile[0] * o.tile[1])
        return bpw

    @property
    def shape_dependent_overhead(self) -> list[Overhead]:
        return [o for o in self.overhead if o.per in ("row", "column", "tensor")]

    @property
    def block_bytes(self) -> Fraction | None:
        """Bytes of one block (GGUF types: exact integers, e.g. Q4_0 = 18)."""
        if self.block_size is None:
            return None
        return self.bits_per_weight * self.block_size / 8

    def layout_text(self) -> str:
        if self.family == "gguf_mix":
            return f"mix of llama.cpp types, mostly {self.base_type}"
        width = f"{_fmt_bits(self.payload)}-bit"
        if self.nominal_bits is not None and Fraction(str(self.nominal_bits)) != self.payload:
            width = f"{_fmt_bits(Fraction(str(self.nominal_bits)))}-bit stored in {_fmt_bits(self.payload)} bits"
        if self.value_range:
            width += f" ({self.value_range})"
        parts = [width if self.block_size is None else f"{width} × {self.block_size}"]
        for o in self.overhead:
            where = {
                "block": "per block",
                "blocks": f"per {o.every} blocks",
                "row": "per row",
                "column": "per column",
                "tile": f"per {o.tile[0]}×{o.tile[1]} tile" if o.tile else "per tile",
                "tensor": "per tensor",
            }[o.per]
            parts.append(f"{o.bits}b {o.name} {where}")
        return " + ".join(parts)

    def with_options(
        self, group_size: int | None = None, scale_bits: int | None = None, bits: float | None = None
    ) -> FormatSpec:
        """A copy with a user-chosen group size, scale width or payload bits (`--group-size 32`, `--bits 5`).

        `group_size=-1` is GPTQ's "one group per row": per-block terms become per-row terms. Where the format
        packs some widths into wider containers (`stored_as`), `bits` is the nominal width and the payload is
        what it is stored in; a width the format cannot store is a usage error. Overheads that follow the
        weights' width (b-bit zero points) change with `bits`.
        """
        update: dict[str, Any] = {}
        name = self.name
        overhead = list(self.overhead)
        if group_size is not None:
            if group_size == -1:
                if any(o.per == "blocks" for o in overhead):
                    raise UsageError(f"{self.name} has second-level scales per blocks and needs a group size",
                                     "use --group-size 32, 64, 128 …")
                overhead = [o.model_copy(update={"per": "row"}) if o.per == "block" else o for o in overhead]
                update["block_size"] = None
            elif group_size < 1:
                raise UsageError(f"group size {group_size} is not possible", "use a positive size, or -1 for per row")
            else:
                update["block_size"] = group_size
            name = f"{name}-g{group_size}"
        if scale_bits is not None:
            overhead = [o.model_copy(update={"bits": scale_bits}) if "scale" in o.name and o.per == "block" else o
                        for o in overhead]
        if bits is not None:
            if self.stored_as:
                if bits not in self.stored_as:
                    widths = ", ".join(str(b) for b in sorted(self.stored_as))
                    raise UsageError(f"{self.name} cannot store {bits:g}-bit weights", f"use --bits {widths}")
                update["payload_bits"] = self.stored_as[int(bits)]
                update["nominal_bits"] = bits
            else:
                update["payload_bits"] = bits
                update["nominal_bits"] = None
            if any(o.follows_bits for o in overhead):
                if bits != int(bits):
                    raise UsageError(f"{self.name} stores whole-bit weights, not {bits:g}", "use a whole --bits")
                overhead = [o.model_copy(update={"bits": int(bits)}) if o.follows_bits else o for o in overhead]
            name = _rename_for_bits(name, self.name, Fraction(str(bits)))
        update["name"] = name
        update["overhead"] = overhead
        try:
            return FormatSpec.model_validate({**self.model_dump(), **update,
                                              "overhead": [o.model_dump() for o in overhead]})
        except ValidationError as e:
            raise UsageError(f"{self.name}: {e.errors()[0]['msg']}", "choose another --bits/--group-size") from e


def _rename_for_bits(name: str, base: str, bits: Fraction) -> str:
    """gptq_4bit at --bits 3 is gptq_3bit (keeping any -g32); others get a suffix: exl2-4.65b."""
    m = re.search(r"_\d+bit$", base)
    if m and bits.denominator == 1:
        return name.replace(base, f"{base[:m.start()]}_{int(bits)}bit", 1)
    return f"{name}-{_fmt_bits(bits)}b"


def _fmt_bits(bits: Fraction) -> str:
    return str(int(bits)) if bits.denominator == 1 else f"{float(bits):g}"


def lookup_key(name: str) -> str:
    """Case-insensitive, with '-', ' ' and '_' treated alike: "Q4-K-M" finds Q4_K_M."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


# Names people pass as formats that are training methods: refused with a pointer, never read as a format.
_TRAINING_METHODS = frozenset({"qlora", "lora"})


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    schema_version: Literal[1] = 1
    format: list[FormatSpec] = []
    default_rows: list[str] | None = None


class Registry:
    """All known formats, looked up case-insensitively by name or alias."""

    def __init__(self, formats: list[FormatSpec], default_rows: list[str], sources: list[str]) -> None:
        self.formats = formats
        self.default_rows = default_rows
        self.sources = sources
        self._index: dict[str, FormatSpec] = {}
        for spec in formats:
            for key in [spec.name, *spec.aliases]:
                self._index[lookup_key(key)] = spec
        self._by_dtype = {d.upper(): s for s in formats for d in s.storage_dtypes}
        self._by_ggml = {s.ggml_type: s for s in formats if s.ggml_type is not None}
        self._by_ftype = {s.llama_ftype: s for s in formats if s.llama_ftype is not None}

    def get(self, name: str) -> FormatSpec:
        spec = self._index.get(lookup_key(name))
        if spec is None and lookup_key(name) in _TRAINING_METHODS:
            raise UnknownFormatError(f"{name!r} is a fine-tuning method, not a weight format",
                                     "for inference of a QLoRA base use -d nf4_dq (NF4 with double quantization)")
        if spec is None:
            close = self.suggest(name)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise UnknownFormatError(
                f"unknown format {name!r}", f"{hint}run `vramcalc formats` for the list"
            )
        return spec

    def find(self, name: str) -> FormatSpec | None:
        return self._index.get(lookup_key(name))

    def suggest(self, name: str, n: int = 3) -> list[str]:
        import difflib

        names = {lookup_key(s.name): s.name for s in self.formats}
        return [names[k] for k in difflib.get_close_matches(lookup_key(name), list(names), n=n, cutoff=0.6)]

    def for_storage_dtype(self, dtype: str) -> FormatSpec | None:
        """The format of a safetensors dtype name ("BF16", "F8_E4M3"), if known."""
        return self._by_dtype.get(dtype.upper())

    def for_ggml_type(self, type_id: int) -> FormatSpec | None:
        return self._by_ggml.get(type_id)

    def for_llama_ftype(self, ftype: int) -> FormatSpec | None:
        """The format of a GGUF's `general.file_type` (llama.h llama_ftype: 15 is Q4_K_M)."""
        return self._by_ftype.get(ftype)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.formats)

    def __len__(self) -> int:
        return len(self.formats)


def shipped_formats_path() -> Path:
    """formats.toml inside the installed package, else at the repository root (editable installs)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "formats.toml", here.parents[1] / "formats.toml"):
        if candidate.is_file():
            return candidate
    raise RegistryError(
        "the shipped formats.toml is missing", "reinstall vramcalc (pip install --force-reinstall vramcalc)"
    )


MAX_FORMATS_FILE_BYTES = 4 << 20  # the shipped formats.toml is ~80 kB


def _read_file(path: Path) -> RegistryFile:
    import stat

    try:
        # non-blocking, then checked: a FIFO or a device (/dev/zero) is refused before anything is read from it
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise RegistryError(f"formats file {path} is not a regular file", "give a .toml file")
            if st.st_size > MAX_FORMATS_FILE_BYTES:
                raise RegistryError(f"formats file {path} is {st.st_size:,} bytes, more than a formats file holds "
                                    f"({MAX_FORMATS_FILE_BYTES >> 20} MiB)", "give a .toml file of format entries")
            raw = f.read(MAX_FORMATS_FILE_BYTES + 1)
    except FileNotFoundError as e:
        raise RegistryError(f"formats file {path} does not exist", "check the path") from e
    except OSError as e:
        raise RegistryError(f"cannot read formats file {path}: {e.strerror or e}", "check the file") from e
    cached = _cache_load(raw)
    if cached is not None:
        return cached
    reg = _parse_file(path, raw)
    _cache_store(raw, reg)
    return reg


# tomllib is pure Python: parsing and validating the shipped registry costs ~15 ms on every run, most of the
# start-up budget. A validated copy is cached by content hash (any change to a file means a new key), as JSON: data,
# never code, whoever wrote the file (a pickle there would run anything put under its predictable name). It is read
# back with pydantic_core's JSON parser (already loaded) and model_construct (no second validation).
def _cache_path(raw: bytes) -> Path | None:
    import hashlib

    from vramcalc import __version__
    from vramcalc.cache_files import cache_dir

    base = cache_dir()
    if base is None:
        return None
    # the cache holds these classes' fields: a changed registry.py (new field, new check) must not read an old one
    key = hashlib.sha256(raw + __version__.encode() + Path(__file__).read_bytes()).hexdigest()[:32]
    return base / f"registry-{key}.json"


_MAX_CACHE_BYTES = 16 << 20


def _cache_load(raw: bytes) -> RegistryFile | None:
    from vramcalc.cache_files import read_cached

    path = _cache_path(raw)
    data = read_cached(path, _MAX_CACHE_BYTES) if path is not None else None
    if data is None:
        return None
    try:
        from pydantic_core import from_json

        return _from_plain(from_json(data))
    except Exception:  # a stale, damaged or foreign cache is simply rebuilt
        return None


def _from_plain(data: Any) -> RegistryFile | None:
    """The cached JSON back into the validated classes, without validating again; None for anything that is not
    the shape `_to_plain` writes (the file is then rebuilt)."""
    if not isinstance(data, dict) or data.get("cache") != _CACHE_SCHEMA or not isinstance(data.get("format"), list):
        return None
    specs = []
    for entry in data["format"]:
        if not isinstance(entry, dict) or set(entry) != _SPEC_FIELDS:
            return None
        overhead = []
        for o in entry["overhead"]:
            if not isinstance(o, dict) or set(o) != _OVERHEAD_FIELDS:
                return None
            tile = o["tile"]
            overhead.append(_construct(Overhead, {**o, "tile": tuple(tile) if tile is not None else None}))
        entry["overhead"] = overhead
        entry["stored_as"] = {int(k): float(v) for k, v in entry["stored_as"]}
        specs.append(_construct(FormatSpec, entry))
    rows = data.get("default_rows")
    if rows is not None and not (isinstance(rows, list) and all(isinstance(r, str) for r in rows)):
        return None
    return RegistryFile.model_construct(schema_version=1, format=specs, default_rows=rows)


def _construct(cls: type[_M], values: dict[str, Any]) -> _M:
    """What model_construct makes from every field's value, without its per-call loop over the fields (the cache is
    read on every run: this halves the time)."""
    m = cls.__new__(cls)
    object.__setattr__(m, "__dict__", values)
    object.__setattr__(m, "__pydantic_fields_set__", set(values))
    object.__setattr__(m, "__pydantic_extra__", None)
    object.__setattr__(m, "__pydantic_private__", None)
    return m


_M = TypeVar("_M", bound=BaseModel)


_CACHE_SCHEMA = 1
_SPEC_FIELDS = frozenset(FormatSpec.model_fields)
_OVERHEAD_FIELDS = frozenset(Overhead.model_fields)


def _to_plain(reg: RegistryFile) -> dict[str, Any]:
    formats = []
    for spec in reg.format:
        entry = {name: getattr(spec, name) for name in FormatSpec.model_fields}
        entry["overhead"] = [{name: getattr(o, name) for name in Overhead.model_fields} for o in spec.overhead]
        entry["stored_as"] = [[k, v] for k, v in spec.stored_as.items()]  # JSON keys are strings: pairs keep ints
        formats.append(entry)
    return {"cache": _CACHE_SCHEMA, "format": formats, "default_rows": reg.default_rows}


def _cache_store(raw: bytes, reg: RegistryFile) -> None:
    from pydantic_core import to_json

    from vramcalc.cache_files import write_cached

    path = _cache_path(raw)
    if path is None:
        return
    try:
        data = to_json(_to_plain(reg))
    except ValueError:
        return
    write_cached(path, data)  # read-only home, full disk: run uncached


def _parse_file(path: Path, raw: bytes) -> RegistryFile:
    import tomllib  # only on a cache miss: importing it costs more than reading the cached registry

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RegistryError(f"cannot read formats file {path}: {e}", "check the file") from e
    except tomllib.TOMLDecodeError as e:
        raise RegistryError(f"{path} is not valid TOML: {e}", "fix the syntax") from e
    except RecursionError:  # tables or arrays nested thousands deep
        raise RegistryError(f"{path} nests tables or arrays too deeply to read", "fix the file") from None
    try:
        reg = RegistryFile.model_validate(data)
    except ValidationError as e:
        raise RegistryError(_describe_validation(path, data, e), "fix the entry and try again") from e
    seen: set[str] = set()
    for spec in reg.format:  # across files a name replaces an entry; within one file it is a mistake
        if lookup_key(spec.name) in seen:
            raise RegistryError(f"{path}: format {spec.name!r} is defined twice",
                                "keep one entry per name (a later file may override an earlier one)")
        seen.add(lookup_key(spec.name))
    return reg


def _describe_validation(path: Path, data: Any, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "format" and isinstance(loc[1], int):
            entry = data["format"][loc[1]] if isinstance(data.get("format"), list) else {}
            ename = entry.get("name", f"#{loc[1] + 1}") if isinstance(entry, dict) else f"#{loc[1] + 1}"
            field = ".".join(str(p) for p in loc[2:]) or "(entry)"
            where = f"format {ename!r}, field {field!r}"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"{where}: {msg}")
    return f"{path}: " + "; ".join(lines)


def load_registry(extra: list[Path] | None = None) -> Registry:
    """The shipped registry, then each user file (from VRAMCALC_FORMATS, then `extra`) in order.

    A user entry whose name matches an existing format replaces it; otherwise it is added.
    """
    paths = [shipped_formats_path()]
    env = os.environ.get(FORMATS_ENV)
    if env:
        paths += [Path(p) for p in env.split(os.pathsep) if p]
    paths += list(extra or [])
    formats: dict[str, FormatSpec] = {}
    default_rows: list[str] = []
    for path in paths:
        reg = _read_file(path)
        for spec in reg.format:
            formats[lookup_key(spec.name)] = spec
        if reg.default_rows:
            default_rows = reg.default_rows
    registry = Registry(list(formats.values()), default_rows, [str(p) for p in paths])
    _check_consistency(registry)
    return registry


def _check_consistency(registry: Registry) -> None:
    seen: dict[str, str] = {}
    ggml: dict[int, str] = {}
    ftypes: dict[int, str] = {}
    dtypes: dict[str, str] = {}
    for spec in registry.formats:
        if spec.llama_ftype is not None and ftypes.setdefault(spec.llama_ftype, spec.name) != spec.name:
            raise RegistryError(
                f"format {spec.name!r}: llama_ftype {spec.llama_ftype} is already {ftypes[spec.llama_ftype]!r}",
                "give each llama.cpp file type id to one format (override an entry by using its name)",
            )
        # a ggml type id or a safetensors dtype read from a file must map to one format
        if spec.ggml_type is not None:
            if ggml.setdefault(spec.ggml_type, spec.name) != spec.name:
                raise RegistryError(
                    f"format {spec.name!r}: ggml_type {spec.ggml_type} is already {ggml[spec.ggml_type]!r}",
                    "give each ggml type id to one format (override an entry by using its name)",
                )
        for d in spec.storage_dtypes:
            if dtypes.setdefault(d.upper(), spec.name) != spec.name:
                raise RegistryError(
                    f"format {spec.name!r}: storage dtype {d!r} is already {dtypes[d.upper()]!r}",
                    "give each safetensors dtype to one format (override an entry by using its name)",
                )
        for key in [spec.name, *spec.aliases]:
            k = lookup_key(key)
            if k in seen and seen[k] != spec.name:
                raise RegistryError(
                    f"format {spec.name!r}: alias {key!r} is already used by {seen[k]!r}",
                    "rename one of them",
                )
            seen[k] = spec.name
        for field_name in ("base_type", "fallback", "file_type_default"):
            value = getattr(spec, field_name)
            if value is not None and registry.find(value) is None:
                raise RegistryError(
                    f"format {spec.name!r}, field {field_name!r}: {value!r} is not a known format",
                    "name a gguf_type entry",
                )
    for row in registry.default_rows:
        if registry.find(row) is None:
            raise RegistryError(f"default_rows names unknown format {row!r}", "fix default_rows")
