"""The one model every reader returns: tensors (name, dtype, shape, bytes), files, metadata, config."""

from __future__ import annotations

import re
from functools import cached_property
from math import prod
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

SourceKind = Literal["safetensors", "folder", "hf-cache", "hub", "gguf", "config", "count"]


class TensorInfo(BaseModel):
    """One stored tensor. `dtype` is a safetensors dtype name ("BF16") or a GGML type name ("Q4_K")."""

    model_config = ConfigDict(frozen=True)

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int = Field(description="exact bytes on disk")
    component: str = Field("", description="pipeline component (diffusers: transformer, vae, …)")
    file: str | None = None

    @cached_property
    def numel(self) -> int:
        return prod(self.shape)

    @classmethod
    def trusted(cls, name: str, dtype: str, shape: tuple[int, ...], nbytes: int, component: str = "",
                file: str | None = None, numel: int | None = None) -> TensorInfo:
        """A tensor from values a reader has already checked: what model_construct makes, without its per-call
        work (a loop over the fields and a set of their names per instance, 0.7 kB): a header of a million tensors
        costs its parse, not ten times that."""
        m = cls.__new__(cls)
        _set_dict(m, {"name": name, "dtype": dtype, "shape": shape, "nbytes": nbytes, "component": component,
                      "file": file,
                      "numel": prod(shape) if numel is None else numel})  # numel's cache, filled
        _set_fields(m, _TENSOR_FIELDS)  # shared: a frozen model never adds to it
        _set_extra(m, None)
        _set_private(m, None)
        return m


_TENSOR_FIELDS = set(TensorInfo.model_fields)
# BaseModel's own slots, set through their descriptors: what object.__setattr__ does past a frozen model's
# __setattr__, without looking each one up by name (a million tensors, four slots each)
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


_INDEX = re.compile(r"\.\d+(?=\.)")  # a layer or expert index
# (name pattern with layer/expert indices as #, dtype, shape, component) → the tensors alike in all four
Groups = dict[tuple[str, str, tuple[int, ...], str], list[TensorInfo]]


class FileInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    size: int = Field(description="file size in bytes")
    header_bytes: int = Field(description="bytes before the tensor data (header, metadata, padding)")
    tensors: int
    component: str = ""


class QuantizationInfo(BaseModel):
    """A packed quantized checkpoint recognised from its tensors and quantization_config."""

    model_config = ConfigDict(frozen=True)

    scheme: str = Field(description="gptq, awq, bitsandbytes-4bit, compressed-tensors, fp8-block, …")
    bits: float | None = None
    group_size: int | None = None
    details: dict[str, Any] = {}


class Inventory(BaseModel):
    """Everything read from a source, without the weights themselves."""

    source: str
    kind: SourceKind
    tensors: list[TensorInfo] = []
    files: list[FileInfo] = []
    config: dict[str, Any] | None = Field(None, description="config.json (or the GGUF metadata mapped to it)")
    metadata: dict[str, Any] = Field({}, description="safetensors __metadata__ or GGUF key/values")
    quantization: QuantizationInfo | None = None
    true_params: int | None = Field(
        None, description="parameter count when it differs from stored elements (packed checkpoints)"
    )
    warnings: list[str] = []
    _groups: tuple[list[TensorInfo], Groups] | None = PrivateAttr(None)  # of `tensors`, that very list

    @property
    def groups(self) -> Groups:
        """`group_tensors(self.tensors)`, worked out once: the packed check, the active count, inspect's shares and
        every format's plan read them (a copy with other tensors works its own out)."""
        if self._groups is None or self._groups[0] is not self.tensors:
            self._groups = (self.tensors, group_tensors(self.tensors))
        return self._groups[1]

    @property
    def stored_elements(self) -> int:
        return sum(alike[0].numel * len(alike) for alike in self.groups.values())

    @property
    def total_params(self) -> int:
        return self.true_params if self.true_params is not None else self.stored_elements

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def components(self) -> list[str]:
        return sorted({component for *_, component in self.groups})


def group_tensors(tensors: list[TensorInfo]) -> Groups:
    """Tensors alike but for their layer or expert index (same name pattern, dtype, shape and component), in order
    of first appearance: what a format prices once and multiplies (an inventory keeps its own: `Inventory.groups`)."""
    groups: Groups = {}
    sub = _INDEX.sub
    for t in tensors:
        groups.setdefault((sub(".#", t.name), t.dtype, t.shape, t.component), []).append(t)
    return groups
