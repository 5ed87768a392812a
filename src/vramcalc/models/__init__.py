"""Model families as records: one small module per family, each declaring the `Family` facts of its model types.

Adding a family: a module here with its records and, unless it is built like Llama (models/decoder.py), its tensor
builder; its name in _MODULES; a test. `family_of(model_type)` returns the Llama-style default for a model_type no
module claims. Shared parts: tensors.py (the builder's tensor list), blocks.py (plain-MLP and ViT layers),
vision.py (multimodal towers and projectors).
"""

from __future__ import annotations

import importlib
from functools import cache

from vramcalc.models.family import LLAMA_STYLE, Family

__all__ = ["Family", "LLAMA_STYLE", "families", "family_of", "known_model_types"]

_MODULES = ("llama", "qwen", "gemma", "deepseek", "llama4", "gpt_oss", "glm", "gpt2", "neox", "phi", "falcon", "opt",
            "bloom", "starcoder2", "bert", "t5", "clip")


@cache
def families() -> tuple[Family, ...]:
    out: list[Family] = []
    for name in _MODULES:
        out += importlib.import_module(f"vramcalc.models.{name}").FAMILIES
    return tuple(out)


@cache
def _by_type() -> dict[str, Family]:
    index: dict[str, Family] = {}
    for fam in families():
        for mt in fam.model_types:
            if mt in index:
                raise ValueError(f"model_type {mt!r} is claimed by two families")
            index[mt] = fam
    return index


def family_of(model_type: str) -> Family:
    return _by_type().get(model_type, LLAMA_STYLE)


def known_model_types() -> frozenset[str]:
    return frozenset(_by_type())


def model_types_of(role: str) -> frozenset[str]:
    return frozenset(mt for mt, fam in _by_type().items() if fam.role == role)
