"""Which weight files a model holds: one rule for a local folder and a Hub repo alike.

A source only lists the files directly in a folder and reads a JSON file; the rule picks the shards an index names,
a diffusers pipeline's components (the folders model_index.json names), and one copy of the weights where a folder
also holds `variant=` copies (diffusers' `unet/diffusion_pytorch_model.fp16.safetensors` beside the full-precision
file): counting both would double the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vramcalc.errors import SourceError, VramcalcError
from vramcalc.readers.paths import plain_name, stays_inside

INDEX = "model.safetensors.index.json"
INDEXES = (INDEX, "diffusion_pytorch_model.safetensors.index.json")
# the `variant=` names diffusers and transformers save with (save_pretrained(variant=…)), in order of preference
# when a folder holds only variants
VARIANTS = ("fp16", "bf16", "fp32", "fp8", "non_ema", "ema")
_VARIANT = re.compile(r"^.+\.(?P<variant>[A-Za-z0-9_]+)(?:-\d{5}-of-\d{5})?\.safetensors$")


class FileSource(Protocol):
    """A local folder or a Hub repo, as far as choosing its weight files goes."""

    def ls(self, folder: str) -> list[str]:
        """Names of the files directly in `folder` ("" for the top), relative to the top."""
        ...

    def json(self, name: str) -> dict[str, Any] | None:
        """A JSON object file of the source (raises the source's error if it is not one)."""
        ...


@dataclass(frozen=True)
class Blame:
    """How the source names its files and its errors: local paths and SourceError, or repo/name and HubError."""

    label: Callable[[str], str]
    inside: str  # "its folder", "the repo"
    error: type[VramcalcError] = SourceError
    todo: str | None = None  # one hint for every malformed file (the Hub: tell the owner); None: one per problem


@dataclass
class WeightFiles:
    files: list[str] = field(default_factory=list)  # relative names, in reading order
    components: list[str] = field(default_factory=list)  # a pipeline's component folders (model_index.json)
    notes: list[str] = field(default_factory=list)


def variant_of(name: str) -> str | None:
    m = _VARIANT.match(name.rsplit("/", 1)[-1])
    return m.group("variant") if m and m.group("variant") in VARIANTS else None


def select_weights(source: FileSource, blame: Blame) -> WeightFiles:
    top = source.ls("")
    if "model_index.json" not in top:
        out = WeightFiles()
        out.files, notes = folder_weights(source, "", top, blame)
        out.notes += notes
        return out
    index = source.json("model_index.json") or {}
    outside = [n for n in index if not n.startswith("_") and not plain_name(n)]
    if outside:  # a component is a folder beside model_index.json, never a path elsewhere
        raise blame.error(f"{blame.label('model_index.json')} names a component outside {blame.inside} "
                          f"({outside[0][:200]!r})",
                          blame.todo or "a component is a folder beside model_index.json: download the pipeline again")
    out = WeightFiles(components=[n for n in sorted(index) if not n.startswith("_")])
    for name in out.components:
        files, notes = folder_weights(source, name + "/", source.ls(name), blame)
        out.files += files
        out.notes += [f"{name}: {n}" for n in notes]
    return out


def folder_weights(source: FileSource, prefix: str, names: list[str], blame: Blame) -> tuple[list[str], list[str]]:
    """The weight files of one folder: the shards its index names, else its .safetensors files but for variant
    copies of weights it also holds in full (only variants: the preferred one)."""
    here = {n[len(prefix):] for n in names}
    for index_name in INDEXES:
        if index_name in here:
            return _shards(source, prefix + index_name, prefix, blame), []
    weights = sorted(n for n in here if n.endswith(".safetensors"))
    by_variant: dict[str | None, list[str]] = {}
    for n in weights:
        by_variant.setdefault(variant_of(n), []).append(n)
    if None in by_variant:
        chosen, kind = by_variant.pop(None), None
    elif by_variant:
        kind = min(by_variant, key=lambda v: VARIANTS.index(v) if v else -1)
        chosen = by_variant.pop(kind)
    else:
        return [], []
    others = sorted(v for v in by_variant if v)
    notes = []
    if others:
        notes.append(f"also holds the {', '.join(others)} variant(s) of the same weights: read "
                     f"{'the full-precision files' if kind is None else f'the {kind} one'}, not both")
    elif kind is not None:
        notes.append(f"only the {kind} variant is here: counted as stored")
    return [prefix + n for n in chosen], notes


def _shards(source: FileSource, index_name: str, prefix: str, blame: Blame) -> list[str]:
    data = source.json(index_name) or {}
    weight_map = data.get("weight_map")
    if not isinstance(weight_map, dict):
        raise blame.error(f"{blame.label(index_name)} has no weight_map", blame.todo or "download the index again")
    shards = sorted(set(map(str, weight_map.values())))
    outside = [s for s in shards if not stays_inside(s)]
    if outside:
        raise blame.error(f"{blame.label(index_name)} names a shard outside {blame.inside} ({outside[0][:200]!r})",
                          blame.todo or "a weight_map names files beside the index: download the repo again")
    return [prefix + s for s in shards]
