"""The GPU catalog: `gpus.toml` loaded and validated with pydantic, and GPU specs people type ("RTX 4090",
"2xA100-80GB", "4 x H100", "M3 Max 36GB") resolved to a device, a count and the bytes each device holds.

Memory is stored as the driver reports it where a public log shows it (`nvidia-smi`'s total in MiB: an RTX 4090
is 24,564 MiB, a little under its marketed 24 GiB), else as the marketed size in GiB, and the catalog says which.
Apple silicon has unified memory: the GPU may use only the share of RAM macOS allows by default
(`MTLDevice.recommendedMaxWorkingSetSize`), a rule kept in the catalog with its sources. Every figure carries its
source. Users add or override devices with their own TOML (`--gpus FILE` or `VRAMCALC_GPUS`), validated the same
way. Pure: no rich, no typer; loaded only when a command asks for a GPU (start-up never reads it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vramcalc.errors import RegistryError, UsageError

GPUS_ENV = "VRAMCALC_GPUS"
MIB = 2**20
GIB = 2**30
MAX_GPU_COUNT = 1024  # a count prefix beyond this is a typo, not a cluster

Vendor = Literal["nvidia", "amd", "apple"]
Positive = Annotated[float, Field(gt=0)]

# The figures a device may state; each one given needs a source under the same key in `sources`.
FIGURES: tuple[str, ...] = (
    "memory_mib", "memory_gib", "bandwidth_gbs", "bf16_tflops", "fp8_tflops", "fp4_tflops",
    "compute_capability", "interconnect", "interconnect_gbs",
)


def gpu_key(name: str) -> str:
    """Case-, space-, dash- and underscore-insensitive: "rtx-4090", "RTX 4090" and "rtx4090" are one key."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


# Vendor words people put in front of a name ("NVIDIA GeForce RTX 4090", "AMD Instinct MI300X"): tried off when the
# whole name is not known.
_PREFIXES = ("nvidia", "geforce", "tesla", "amd", "instinct", "radeon", "apple")


class GpuSpec(BaseModel):
    """One device of the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str
    aliases: list[str] = []
    vendor: Vendor
    memory_mib: Annotated[int, Field(gt=0)] | None = Field(
        None, description="total memory as the driver reports it, in MiB (nvidia-smi's 'Total')")
    reported_by: str | None = Field(None, description="the tool memory_mib is read from (nvidia-smi …)")
    memory_gib: Positive | None = Field(
        None, description="the marketed memory (cards are sold in GiB), when no driver figure is known; "
                          "unified-memory machines: the RAM")
    bandwidth_gbs: Positive | None = Field(None, description="memory bandwidth, GB/s (10^9 bytes)")
    bf16_tflops: Positive | None = Field(None, description="dense bf16/fp16 tensor throughput, TFLOPS (not sparse)")
    fp8_tflops: Positive | None = Field(None, description="dense fp8 tensor throughput, TFLOPS, where supported")
    fp4_tflops: Positive | None = Field(None, description="dense fp4 tensor throughput, TFLOPS, where supported")
    compute_capability: str | None = Field(None, description="CUDA compute capability (NVIDIA), e.g. '8.9'")
    interconnect: str | None = Field(None, description="GPU-to-GPU link: NVLink generation, PCIe, Infinity Fabric")
    interconnect_gbs: Positive | None = Field(None, description="that link's bandwidth per GPU, GB/s as the vendor "
                                                                "states it (NVLink: both directions)")
    unified_memory: bool = Field(False, description="CPU and GPU share one memory (Apple silicon): no CUDA context, "
                                                    "and the GPU may use only a share of it")
    gpu_share: str | None = Field(None, description="unified memory: the fraction of RAM the GPU may use by default, "
                                                    "e.g. '3/4' (default: the catalog's rule for the RAM size)")
    notes: str = ""
    sources: dict[str, str] = Field({}, description="figure name → where it comes from (datasheet, public log)")

    @field_validator("name")
    @classmethod
    def _name_is_plain(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v.strip()

    @field_validator("compute_capability")
    @classmethod
    def _cc_shape(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d+\.\d+", v):
            raise ValueError("compute capability is major.minor, e.g. '8.9'")
        return v

    @field_validator("gpu_share")
    @classmethod
    def _share_shape(cls, v: str | None) -> str | None:
        if v is not None:
            _fraction(v)
        return v

    @model_validator(mode="after")
    def _check(self) -> GpuSpec:
        if (self.memory_mib is None) == (self.memory_gib is None):
            raise ValueError("give exactly one of `memory_mib` (as the driver reports it) or `memory_gib` (marketed)")
        if self.memory_mib is not None and not self.reported_by:
            raise ValueError("`memory_mib` needs `reported_by` (the tool that reports it, e.g. 'nvidia-smi')")
        if self.unified_memory and self.memory_gib is None:
            raise ValueError("a unified-memory device states its RAM as `memory_gib`")
        if self.gpu_share is not None and not self.unified_memory:
            raise ValueError("`gpu_share` is for unified-memory devices")
        unknown = set(self.sources) - set(FIGURES) - {"gpu_share"}
        if unknown:
            raise ValueError(f"`sources` names no figure: {', '.join(sorted(unknown))} "
                             f"(figures: {', '.join(FIGURES)}, gpu_share)")
        missing = [f for f in (*FIGURES, "gpu_share") if getattr(self, f) is not None and not self.sources.get(f)]
        if missing:
            raise ValueError(f"every figure needs its source: add `sources.{missing[0]}`"
                             + (f" (and {', '.join(missing[1:])})" if len(missing) > 1 else ""))
        return self

    @property
    def memory_bytes(self) -> int:
        """The device's memory in bytes: as the driver reports it, else the marketed GiB (unified: the RAM)."""
        if self.memory_mib is not None:
            return self.memory_mib * MIB
        assert self.memory_gib is not None
        return int(Fraction(str(self.memory_gib)) * GIB)

    @property
    def memory_is_reported(self) -> bool:
        """True when memory_bytes is what the driver reports; False for a marketed size."""
        return self.memory_mib is not None


def _fraction(text: str) -> Fraction:
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError) as e:
        raise ValueError(f"{text!r} is not a fraction such as '3/4' or '0.75'") from e
    if not 0 < value <= 1:
        raise ValueError(f"a share must be in (0, 1], got {text!r}")
    return value


class UnifiedMemoryRule(BaseModel):
    """macOS's default limit on the memory the GPU may use (`recommendedMaxWorkingSetSize`), by RAM size."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    threshold_gib: Positive = Field(description="RAM at or below this gets `share_small`, above it `share_large`")
    share_small: str
    share_large: str
    source: str = Field(min_length=1)

    @field_validator("share_small", "share_large")
    @classmethod
    def _share_shape(cls, v: str) -> str:
        _fraction(v)
        return v

    def share(self, ram_gib: float) -> Fraction:
        return _fraction(self.share_small if ram_gib <= self.threshold_gib else self.share_large)


class GpuFile(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    schema_version: Literal[1] = 1
    unified_memory_rule: UnifiedMemoryRule | None = None
    gpu: list[GpuSpec] = []


class GpuCatalog:
    """Every known device, looked up by name or alias (case, spaces, dashes and underscores ignored)."""

    def __init__(self, devices: list[GpuSpec], rule: UnifiedMemoryRule | None, sources: list[str]) -> None:
        self.devices = devices
        self.rule = rule
        self.sources = sources
        self._index: dict[str, GpuSpec] = {}
        for spec in devices:
            for key in (spec.name, *spec.aliases):
                self._index[gpu_key(key)] = spec

    def find(self, name: str) -> GpuSpec | None:
        key = gpu_key(name)
        spec = self._index.get(key)
        while spec is None:
            prefix = next((p for p in _PREFIXES if key.startswith(p) and len(key) > len(p)), None)
            if prefix is None:
                return None
            key = key[len(prefix):]
            spec = self._index.get(key)
        return spec

    def get(self, name: str) -> GpuSpec:
        spec = self.find(name)
        if spec is None:
            close = self.suggest(name)
            todo = (f"did you mean {', '.join(close)}? (vramcalc gpus lists them; or give --gpu-memory SIZE)"
                    if close else "vramcalc gpus lists the known ones; or give --gpu-memory SIZE, e.g. 24GiB")
            raise UsageError(f"unknown GPU {name.strip()!r}", todo)
        return spec

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The closest device names (by name or alias), best first."""
        import difflib

        keys = {gpu_key(k): s.name for s in self.devices for k in (s.name, *s.aliases)}
        key = gpu_key(name)
        out: list[str] = []
        # "A100" names no one device: the devices it begins (A100-80GB, A100-40GB) come first
        prefixed = sorted({v for k, v in keys.items() if key and k.startswith(key)}, key=lambda v: (len(v), v))
        for k in [*(gpu_key(v) for v in prefixed), *difflib.get_close_matches(key, list(keys), n=4 * n, cutoff=0.6)]:
            if keys[k] not in out:
                out.append(keys[k])
        return out[:n]

    def share(self, spec: GpuSpec) -> Fraction:
        """The fraction of a device's memory the GPU may use: 1 for a discrete GPU, macOS's default for unified."""
        if not spec.unified_memory:
            return Fraction(1)
        if spec.gpu_share is not None:
            return _fraction(spec.gpu_share)
        if self.rule is None:
            raise RegistryError(f"GPU {spec.name!r} has unified memory but no `gpu_share`, and the catalog has no "
                                "unified_memory_rule", "add gpu_share to the entry")
        assert spec.memory_gib is not None
        return self.rule.share(spec.memory_gib)

    def share_source(self, spec: GpuSpec) -> str | None:
        if not spec.unified_memory:
            return None
        if spec.gpu_share is not None:
            return spec.sources.get("gpu_share")
        return self.rule.source if self.rule else None

    def usable_bytes(self, spec: GpuSpec) -> int:
        """Bytes the GPU may use: the memory as reported (discrete), or the OS's default share of RAM (unified)."""
        return int(spec.memory_bytes * self.share(spec))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)


@dataclass(frozen=True)
class GpuSelection:
    """What `--gpu` names: `count` devices of one kind, and the bytes each may use."""

    count: int
    device: GpuSpec
    usable_bytes: int  # per device: as the driver reports it, or (unified memory) the OS's default share of RAM
    share: Fraction = Fraction(1)

    @property
    def per_gpu_bytes(self) -> int:
        return self.usable_bytes

    @property
    def total_bytes(self) -> int:
        return self.usable_bytes * self.count

    @property
    def unified_memory(self) -> bool:
        return self.device.unified_memory

    @property
    def label(self) -> str:
        return self.device.name if self.count == 1 else f"{self.count} × {self.device.name}"

    def describe(self) -> str:
        """Which unit the capacity came in: "23.99 GiB = 25.76 GB (RTX 4090: 24,564 MiB as nvidia-smi reports)"."""
        d = self.device
        size = f"{self.usable_bytes / GIB:,.2f} GiB = {self.usable_bytes / 1e9:,.2f} GB"
        if d.unified_memory:
            how = (f"{share_text(self.share)} of {_num(d.memory_gib)} GiB unified memory, the GPU's default share "
                   "under macOS; sudo sysctl iogpu.wired_limit_mb raises it")
        elif d.memory_mib is not None:
            how = f"{d.memory_mib:,} MiB as {d.reported_by} reports"
        else:
            how = f"the marketed {_num(d.memory_gib)} GiB; the driver reports a little less"
        each = " each" if self.count > 1 else ""
        return f"{size}{each} ({self.label}: {how})"


def _num(x: float | None) -> str:
    return f"{x:g}" if x is not None else "?"


def share_text(share: Fraction) -> str:
    return f"{share.numerator}/{share.denominator}" if share.denominator <= 12 else f"{float(share):.0%}"


_COUNT_RE = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\S.*)$", re.IGNORECASE)


def parse_gpu(text: str, catalog: GpuCatalog) -> GpuSelection:
    """ "RTX 4090" → 1 × RTX 4090; "2xA100-80GB", "4 x H100", "8xh100", "2×L4" → that many. Unknown names are a
    UsageError listing the closest ones."""
    if not text or not text.strip():
        raise UsageError("empty --gpu", 'name a GPU, e.g. --gpu "RTX 4090" or --gpu 2xA100-80GB')
    count, name = 1, text.strip()
    m = _COUNT_RE.match(name)
    if m and catalog.find(name) is None:
        count, name = int(m.group(1)), m.group(2)
        if not 1 <= count <= MAX_GPU_COUNT:
            raise UsageError(f"GPU count {count} in {text.strip()!r} is not possible",
                             f"give 1 to {MAX_GPU_COUNT}, e.g. --gpu 2xA100-80GB")
    spec = catalog.get(name)
    share = catalog.share(spec)
    return GpuSelection(count=count, device=spec, usable_bytes=int(spec.memory_bytes * share), share=share)


def select_gpu(text: str, extra: list[Path] | None = None) -> GpuSelection:
    """`--gpu TEXT` in one call: the catalog (shipped, $VRAMCALC_GPUS, then `extra` files) and `parse_gpu`."""
    return parse_gpu(text, load_catalog(extra))


# ---------------------------------------------------------------------------------------------------------------
# Loading


def shipped_gpus_path() -> Path:
    """gpus.toml inside the installed package, else at the repository root (editable installs)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "gpus.toml", here.parents[1] / "gpus.toml"):
        if candidate.is_file():
            return candidate
    raise RegistryError("the shipped gpus.toml is missing",
                        "reinstall vramcalc (pip install --force-reinstall vramcalc)")


def _read_file(path: Path) -> GpuFile:
    import tomllib

    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise RegistryError(f"GPU catalog file {path} does not exist", "check the path") from e
    except OSError as e:
        raise RegistryError(f"cannot read GPU catalog file {path}: {e}", "check the file") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RegistryError(f"cannot read GPU catalog file {path}: {e}", "check the file") from e
    except tomllib.TOMLDecodeError as e:
        raise RegistryError(f"{path} is not valid TOML: {e}", "fix the syntax") from e
    try:
        parsed = GpuFile.model_validate(data)
    except ValidationError as e:
        raise RegistryError(_describe_validation(path, data, e), "fix the entry and try again") from e
    _check_unique(path, parsed.gpu)
    return parsed


def _describe_validation(path: Path, data: Any, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "(file)"
        if len(loc) >= 2 and loc[0] == "gpu" and isinstance(loc[1], int):
            entries = data.get("gpu") if isinstance(data, dict) else None
            entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else {}
            ename = entry.get("name", f"#{loc[1] + 1}") if isinstance(entry, dict) else f"#{loc[1] + 1}"
            field = ".".join(str(p) for p in loc[2:]) or "(entry)"
            where = f"gpu {ename!r}, field {field!r}"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{where}: {msg}")
    return f"{path}: " + "; ".join(lines)


def _check_unique(path: Path, devices: list[GpuSpec]) -> None:
    """Within one file, no two entries share a name or alias (as looked up)."""
    seen: dict[str, str] = {}
    for i, spec in enumerate(devices):
        owner = f"{spec.name}#{i}"
        for key in (spec.name, *spec.aliases):
            k = gpu_key(key)
            if k in seen and seen[k] != owner:
                other = seen[k].rsplit("#", 1)[0]
                raise RegistryError(f"{path}: gpu {spec.name!r}: {key!r} is already the name or an alias of {other!r}",
                                    "give each device one entry and each name to one device")
            seen[k] = owner


def load_catalog(extra: list[Path] | None = None) -> GpuCatalog:
    """The shipped catalog, then each user file (from VRAMCALC_GPUS, then `extra`) in order.

    A user entry whose name matches a known device replaces it; otherwise it is added. A name or alias that would
    then mean two devices is refused.
    """
    paths = [shipped_gpus_path()]
    env = os.environ.get(GPUS_ENV)
    if env:
        paths += [Path(p) for p in env.split(os.pathsep) if p]
    paths += list(extra or [])
    devices: dict[str, GpuSpec] = {}
    rule: UnifiedMemoryRule | None = None
    for path in paths:
        f = _read_file(path)
        for spec in f.gpu:
            devices[gpu_key(spec.name)] = spec
        if f.unified_memory_rule is not None:
            rule = f.unified_memory_rule
    catalog = GpuCatalog(list(devices.values()), rule, [str(p) for p in paths])
    _check_catalog(catalog)
    return catalog


def _check_catalog(catalog: GpuCatalog) -> None:
    seen: dict[str, str] = {}
    for spec in catalog.devices:
        for key in (spec.name, *spec.aliases):
            k = gpu_key(key)
            if k in seen and seen[k] != spec.name:
                raise RegistryError(f"gpu {spec.name!r}: {key!r} is already the name or an alias of {seen[k]!r}",
                                    "rename one of them (an entry with the same name replaces a shipped one)")
            seen[k] = spec.name
        if spec.unified_memory and spec.gpu_share is None and catalog.rule is None:
            raise RegistryError(f"gpu {spec.name!r} has unified memory but no `gpu_share`, and no "
                                "unified_memory_rule is given", "add gpu_share to the entry")
