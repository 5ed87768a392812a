"""The tensor list a config.json describes, built as a checkpoint would store it: `TensorBuilder` collects the
tensors each family module's builder adds (names as transformers gives them, the config's dtype, FP8 block scales)."""

from __future__ import annotations

from math import prod
from typing import Any

from vramcalc.components import is_linear_weight
from vramcalc.errors import ArchitectureError
from vramcalc.inventory import TensorInfo

ELEMENT_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}

# Bounds what a config can make us build: DeepSeek-V3 with its FP8 scales has ~90k tensors.
MAX_TENSORS = 1_000_000


class TensorBuilder:
    """Collects synthetic tensors (as a checkpoint would store them) for config-derived inventories. With
    `fp8_block` (DeepSeek-V3 style checkpoints) linear weights are stored as e4m3 with an fp32 `weight_scale_inv`
    tile grid, as the published files hold them."""

    def __init__(self, dtype: str, prefix: str = "", fp8_block: tuple[int, int] | None = None,
                 fp8_skip: list[str] | None = None, component: str = "") -> None:
        self.dtype = dtype
        self.size = ELEMENT_BYTES[dtype]
        self.prefix, self.component = prefix, component
        self.fp8_block, self.fp8_skip = fp8_block, [m for m in fp8_skip or [] if m]
        self.tensors: list[TensorInfo] = []

    def _put(self, name: str, dtype: str, shape: tuple[int, ...], nbytes: int) -> None:
        if len(self.tensors) >= MAX_TENSORS:  # layers × experts: each bounded, their product not
            from vramcalc.errors import SourceError

            raise SourceError(f"the config describes more than {MAX_TENSORS:,} tensors (at {name})",
                              "check num_hidden_layers and the expert counts; no released model comes close")
        # model_construct: values are ours and already valid; DeepSeek-V3 has ~90k tensors with its FP8 scales.
        self.tensors.append(TensorInfo.trusted(name=name, dtype=dtype, shape=shape, nbytes=nbytes,
                                                       component=self.component, file=None))

    def add_raw(self, name: str, dtype: str, shape: tuple[int, ...]) -> None:
        """A tensor in its own storage dtype (packed quantized data), one byte per element for U8/I8."""
        self._put(self.prefix + name, dtype, shape, prod(shape) * ELEMENT_BYTES.get(dtype, 1))

    def add(self, name: str, *shape: int) -> None:
        name = self.prefix + name
        self._add(name, shape, bool(self.fp8_block) and is_linear_weight(name, shape))

    def add_experts(self, prefix: str, n: int, parts: list[tuple[str, tuple[int, ...]]]) -> None:
        """`n` experts' tensors (`<prefix><e>.<part>`), expert by expert as a checkpoint lists them. Whether a part
        is a linear weight (FP8-stored) is the same for every expert: decided once, not 256 × 58 times."""
        full = self.prefix + prefix
        linear = [bool(self.fp8_block) and is_linear_weight(f"{full}0.{part}", shape) for part, shape in parts]
        stored = [self._stored(shape, is_linear) for (_, shape), is_linear in zip(parts, linear, strict=True)]
        if self.fp8_skip or len(self.tensors) + n * sum(map(len, stored)) > MAX_TENSORS:
            # a module left unconverted is named in the tensor's name; past the bound, _put says where
            for e in range(n):
                for (part, shape), is_linear in zip(parts, linear, strict=True):
                    self._add(f"{full}{e}.{part}", shape, is_linear)
            return
        # every expert stores its parts alike: each part's tensors worked out once, only the names vary
        append, trusted, component = self.tensors.append, TensorInfo.trusted, self.component
        for e in range(n):
            for (part, _), kept in zip(parts, stored, strict=True):
                name = f"{full}{e}.{part}"
                for suffix, dtype, shape, nbytes, numel in kept:
                    append(trusted(name + suffix, dtype, shape, nbytes, component, None, numel))

    def _stored(self, shape: tuple[int, ...], linear: bool) -> list[tuple[str, str, tuple[int, ...], int, int]]:
        """The tensors one weight of `shape` is stored as (name suffix, dtype, shape, bytes, elements): itself in
        the config's dtype, or FP8 with its fp32 block scales."""
        numel, block = prod(shape), self.fp8_block
        if linear and block:
            scale = (-(-shape[-2] // block[0]), -(-shape[-1] // block[1]))
            return [("", "F8_E4M3", tuple(shape), numel, numel), ("_scale_inv", "F32", scale, 4 * scale[0] * scale[1],
                                                                  scale[0] * scale[1])]
        return [("", self.dtype, tuple(shape), numel * self.size, numel)]

    def _add(self, name: str, shape: tuple[int, ...], linear: bool) -> None:
        unconverted = bool(self.fp8_skip) and any(m in name for m in self.fp8_skip)
        for suffix, dtype, stored_shape, nbytes, _ in self._stored(shape, linear and not unconverted):
            self._put(name + suffix, dtype, stored_shape, nbytes)


def dim(config: dict[str, Any], key: str, default: int) -> int:
    """A width check_size_fields does not know: a positive whole number up to 2^20, else an ArchitectureError."""
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1 << 20:
        raise ArchitectureError(f"config.json field {key!r} is {str(value)[:40]}, not a positive whole number in "
                                "range", "fix the config")
    return value
