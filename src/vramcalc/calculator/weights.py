"""Weight bytes: from a bare parameter count (nominal bits per weight) or tensor by tensor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from math import ceil, prod
from typing import TYPE_CHECKING

from vramcalc.components import TensorClass, classify, is_linear_weight

if TYPE_CHECKING:  # the count-only path never builds an inventory; keep its import off start-up
    from vramcalc.inventory import Groups, Inventory, TensorInfo
    from vramcalc.registry import FormatSpec, Registry


def count_bytes(n_params: int, spec: FormatSpec, registry: Registry) -> int:
    """Bytes for a bare count of n weights in `spec`. A llama.cpp file type (a mix such as Q4_K_M, or a single
    type such as Q4_0) is priced at the bits per weight llama-quantize's per-tensor rules give the representative
    decoder for n (calculator/representative.py: its output in Q6_K, norms in F32 …); any other format at its
    asymptotic bits per weight."""
    from vramcalc.calculator.representative import count_ftype

    ftype = count_ftype(spec)
    if ftype is not None:
        from vramcalc.calculator.representative import price_ftype

        return ceil(n_params * price_ftype(n_params, ftype, registry).bits_per_weight / 8)
    bpw = effective_spec(spec, registry).bits_per_weight
    return ceil(n_params * bpw / 8)


def effective_spec(spec: FormatSpec, registry: Registry) -> FormatSpec:
    """The layout a format stores a typical linear weight in (a gguf_mix → its base type). A bare count in a
    llama.cpp mix is priced on a representative decoder instead (`count_bytes`)."""
    if spec.family == "gguf_mix" and spec.base_type:
        return registry.get(spec.base_type)
    return spec


def tensor_bytes(spec: FormatSpec, shape: tuple[int, ...]) -> int:
    """Exact bytes of one tensor stored in `spec`. Rows run along the last dimension (GGUF ne0,
    the input features of a PyTorch Linear), so blocks and groups are counted per row."""
    numel = prod(shape)
    if numel == 0:
        return 0
    cols = shape[-1] if shape else 1
    rows = numel // cols
    bits = spec.payload * numel
    blocks_per_row = ceil(cols / spec.block_size) if spec.block_size else 1
    for o in spec.overhead:
        if o.per == "block":
            bits += o.bits * blocks_per_row * rows
        elif o.per == "blocks":
            bits += o.bits * ceil(blocks_per_row * rows / (o.every or 1))
        elif o.per == "row":
            bits += o.bits * rows
        elif o.per == "column":
            bits += o.bits * cols
        elif o.per == "tile" and o.tile is not None:
            bits += o.bits * ceil(rows / o.tile[0]) * ceil(cols / o.tile[1])
        elif o.per == "tensor":
            bits += o.bits
    return ceil(bits / 8)


@dataclass(slots=True)
class TensorPlan:
    """What one tensor becomes in the target format — or, in a plan's groups, every tensor of `members` (alike in
    name pattern, dtype, shape, component, class and target type: a layer or expert repeated)."""

    tensor: TensorInfo
    cls: TensorClass
    spec: FormatSpec | None  # None: kept as stored
    kept_dtype: str
    nbytes: int  # of one tensor
    reason: str = ""
    members: tuple[TensorInfo, ...] = ()  # a group's tensors; () = just `tensor`
    # llama.cpp formats: the GGUF tensors the members become (name, how many members merge into it), in order
    gguf: tuple[tuple[str, int], ...] | None = None

    @property
    def count(self) -> int:
        return len(self.members) or 1

    @property
    def total_bytes(self) -> int:
        return self.nbytes * self.count

    @property
    def total_params(self) -> int:
        return self.tensor.numel * self.count


@dataclass
class ClassTotal:
    cls: TensorClass
    params: int = 0
    bytes: int = 0
    tensors: int = 0
    types: dict[str, int] = field(default_factory=dict)  # storage type → params


@dataclass
class WeightPlan:
    """A format applied to every tensor, priced per group of identical tensors (layers repeat: DeepSeek-V3's 90k
    tensors are a few dozen groups); `tensors` lists them one by one when a caller needs that."""

    spec: FormatSpec
    groups: list[TensorPlan]

    @cached_property
    def tensors(self) -> list[TensorPlan]:
        return [g if not g.members else TensorPlan(m, g.cls, g.spec, g.kept_dtype, g.nbytes, g.reason)
                for g in self.groups for m in (g.members or (g.tensor,))]

    @cached_property
    def params(self) -> int:
        return sum(g.total_params for g in self.groups)

    @cached_property
    def nbytes(self) -> int:
        return sum(g.total_bytes for g in self.groups)

    @property
    def bits_per_weight(self) -> Fraction:
        return Fraction(self.nbytes * 8, self.params) if self.params else Fraction(0)

    def by_class(self) -> list[ClassTotal]:
        totals: dict[TensorClass, ClassTotal] = {}
        for g in self.groups:
            t = totals.setdefault(g.cls, ClassTotal(g.cls))
            t.params += g.total_params
            t.bytes += g.total_bytes
            t.tensors += g.count
            key = g.spec.name if g.spec is not None else g.kept_dtype
            t.types[key] = t.types.get(key, 0) + g.total_params
        for t in totals.values():  # the types holding most parameters first
            t.types = dict(sorted(t.types.items(), key=lambda kv: (-kv[1], kv[0])))
        return sorted(totals.values(), key=lambda t: -t.bytes)

    @property
    def kept(self) -> list[TensorPlan]:
        """The groups this format leaves alone."""
        return [g for g in self.groups if g.spec is None]

    def kept_summary(self) -> list[str]:
        """What this format leaves alone, by what the tensors are ("biases, norm scales stay BF16"), largest
        first, with their share of the parameters."""
        by_dtype: dict[str, dict[str, int]] = {}
        for p in self.kept:
            kinds = by_dtype.setdefault(p.kept_dtype, {})
            kind = kept_kind(p)
            kinds[kind] = kinds.get(kind, 0) + p.total_params
        out = []
        for dtype, kinds in sorted(by_dtype.items()):
            params = sum(kinds.values())
            fraction = params / self.params if self.params else 0.0
            share = f"{fraction:.1%}" if fraction >= 0.001 or not fraction else "<0.1%"
            names = ", ".join(k for k, _ in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(f"{names} stay {dtype} ({share} of the parameters)")
        return out


def kept_kind(p: TensorPlan) -> str:
    """A kept tensor in plain words: what it is, not only where it sits."""
    t, ndim = p.tensor, len(p.tensor.shape)
    if t.name.endswith("bias"):
        return "biases"
    if p.cls == "norms":
        return "norm scales"
    if ndim <= 1:
        return "other 1-D tensors"
    if p.cls in ("embeddings", "router", "vision", "projector"):
        return {"embeddings": "embeddings", "router": "routers", "vision": "the vision tower",
                "projector": "the projector"}[p.cls]
    if p.cls == "lm_head":
        return "the LM head"
    if ndim >= 4 or (ndim == 3 and p.cls not in ("experts", "shared_experts")):
        return "convolutions"
    return f"{p.cls} weights"


# A hook for per-tensor type choice (llama.cpp mixes, fallbacks for indivisible rows): given the target
# format and a tensor, return the format that tensor is stored in, or None to keep it as it is.
TensorTypeChooser = Callable[["FormatSpec", "TensorInfo", TensorClass], "FormatSpec | None"]


class DefaultChooser:
    """What a format's own data says: the tensors it converts (quantizes = all / linear …) in its layout."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.effective: dict[str, FormatSpec] = {}  # one lookup per format, not per tensor (90k tensors × 12 rows)

    def per_tensor(self, spec: FormatSpec) -> bool:
        """False: tensors alike in name pattern, dtype, shape and class get the same type (priced once)."""
        return False

    def __call__(self, spec: FormatSpec, tensor: TensorInfo, cls: TensorClass) -> FormatSpec | None:
        if not wants_tensor(spec, tensor, cls):
            return None
        if spec.name not in self.effective:
            self.effective[spec.name] = effective_spec(spec, self.registry)
        return self.effective[spec.name]


def default_chooser(registry: Registry) -> TensorTypeChooser:
    return DefaultChooser(registry)


def wants_tensor(spec: FormatSpec, tensor: TensorInfo, cls: TensorClass) -> bool:
    """Whether `spec` converts this tensor at all (the rest keeps its dtype, or `keep_dtype`)."""
    if spec.quantizes == "none":
        return False
    if spec.quantizes == "all":
        return _is_float(tensor.dtype)
    if cls == "embeddings":
        return spec.quantize_embeddings and len(tensor.shape) >= 2
    if cls == "lm_head":
        return spec.quantize_lm_head and len(tensor.shape) >= 2
    return is_linear_weight(tensor.name, tensor.shape)


def _is_float(dtype: str) -> bool:
    """Tensors holding real-valued weights a format can re-encode (FP8 checkpoints included)."""
    return dtype.upper() in {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ"}


def kept_bytes(tensor: TensorInfo, spec: FormatSpec, registry: Registry) -> tuple[str, int]:
    """Bytes of a tensor the format leaves alone: as stored, or cast to the format's `keep_dtype`."""
    if spec.keep_dtype == "source" or not _is_float(tensor.dtype):
        return tensor.dtype, tensor.nbytes
    keep = registry.get(spec.keep_dtype)
    return keep.name.upper() if keep.storage_dtypes else keep.name, tensor_bytes(keep, tensor.shape)


# An FP8 checkpoint's scale tensors: re-encoding dequantizes first (convert_hf_to_gguf, quantizers), so the source
# format's scales do not carry over to any target format.
SOURCE_SCALE_SUFFIXES = ("_scale_inv", ".weight_scale", ".input_scale")


def source_tensors(inventory: Inventory) -> list[TensorInfo]:
    """The tensors as a converter sees them before re-encoding: it dequantizes a packed source first, so an FP8
    checkpoint's scales and an MXFP4 checkpoint's block scales drop out, MXFP4 blocks ([…, out, in/32, 16]
    uint8) become the weights they hold ([…, out, in]), and a GGUF's quantized tensors become F16 weights (a bf16
    row of a Q4_K_M file is the model in bf16, not the file with its norms widened)."""
    scheme = inventory.quantization.scheme if inventory.quantization is not None else ""
    if scheme.startswith("fp8"):
        return [t for t in inventory.tensors if not t.name.endswith(SOURCE_SCALE_SUFFIXES)]
    if scheme == "mxfp4":
        from vramcalc.inventory import TensorInfo

        out = []
        for t in inventory.tensors:
            if t.name.endswith("_scales") and t.dtype == "U8":
                continue
            if t.name.endswith("_blocks") and t.dtype == "U8" and len(t.shape) >= 3:
                shape = (*t.shape[:-2], t.shape[-2] * t.shape[-1] * 2)
                t = TensorInfo.model_construct(name=t.name[: -len("_blocks")], dtype="BF16", shape=shape,
                                               nbytes=2 * prod(shape), component=t.component, file=t.file)
            out.append(t)
        return out
    if inventory.kind == "gguf":
        return [dequantized(t) if is_block_quantized(t.dtype) else t for t in inventory.tensors]
    return inventory.tensors


_PLAIN_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "I8", "I16", "I32", "I64", "U8", "BOOL"})


def is_block_quantized(dtype: str) -> bool:
    """A GGUF tensor type that packs weights in blocks (Q4_K, IQ2_XS …), as opposed to plain floats or ints."""
    return dtype.upper() not in _PLAIN_DTYPES and not _is_float(dtype)


def dequantized(t: TensorInfo) -> TensorInfo:
    """A block-quantized GGUF tensor as the weights it holds (F16, as llama.cpp's dequantization gives them)."""
    from vramcalc.inventory import TensorInfo

    return TensorInfo.model_construct(name=t.name, dtype="F16", shape=t.shape, nbytes=2 * t.numel,
                                      component=t.component, file=t.file)


def source_groups(inventory: Inventory) -> Groups:
    """`group_tensors(source_tensors(inventory))`, from the inventory's own groups where the converter keeps the
    tensors as they are or only drops some (an FP8 checkpoint's scales: the name pattern keeps their suffix)."""
    from vramcalc.inventory import group_tensors

    scheme = inventory.quantization.scheme if inventory.quantization is not None else ""
    if scheme.startswith("fp8"):
        return {k: v for k, v in inventory.groups.items() if not k[0].endswith(SOURCE_SCALE_SUFFIXES)}
    sources = source_tensors(inventory)
    return inventory.groups if sources is inventory.tensors else group_tensors(sources)


def plan_weights(
    inventory: Inventory, spec: FormatSpec, registry: Registry, chooser: TensorTypeChooser | None = None,
    groups: Groups | None = None,
) -> WeightPlan:
    """Re-price every tensor of a real (or config-derived) inventory in the target format, a group of alike tensors
    at a time (`groups`: the inventory's source tensors grouped, when the caller has them)."""
    choose = chooser or default_chooser(registry)
    plans = []
    sizes: dict[tuple[str, tuple[int, ...]], int] = {}  # MoE layers repeat the same shapes thousands of times
    per_tensor = getattr(choose, "per_tensor", None)  # a chooser that may treat alike tensors apart (llama.cpp)
    split = getattr(choose, "split", None)  # … and splits a group by its answers in one go
    for (_, _, shape, _), members in (groups if groups is not None else source_groups(inventory)).items():
        t0 = members[0]
        cls = classify(t0.name, len(shape))
        parts: list[tuple[FormatSpec | None, list[TensorInfo], tuple[tuple[str, int], ...] | None]]
        if per_tensor is not None and split is not None and per_tensor(spec):
            parts = split(spec, members)
        elif per_tensor is None or per_tensor(spec):
            by_target: dict[str, tuple[FormatSpec | None, list[TensorInfo], None]] = {}
            for t in members:
                target = choose(spec, t, cls)
                by_target.setdefault(target.name if target else "", (target, [], None))[1].append(t)
            parts = list(by_target.values())
        else:
            parts = [(choose(spec, t0, cls), members, None)]
        for target, alike, gguf in parts:
            group = tuple(alike) if len(alike) > 1 else ()
            if target is None:
                kept, nbytes = kept_bytes(alike[0], spec, registry)
                plans.append(TensorPlan(alike[0], cls, None, kept, nbytes, "not quantized by this format", group,
                                        gguf))
                continue
            key = (target.name, shape)
            if key not in sizes:
                sizes[key] = tensor_bytes(target, shape)
            plans.append(TensorPlan(alike[0], cls, target, target.name, sizes[key], "", group, gguf))
    return WeightPlan(spec, plans)
