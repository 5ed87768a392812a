"""One Inventory from what a reader found, for a local folder and a Hub repo alike: the tensors and files read,
the packed-checkpoint check, a pipeline's components in order (a component without weights counted from its
config where vramcalc knows its class), and the notes the weight-file choice made."""

from __future__ import annotations

from typing import Any

from vramcalc.inventory import FileInfo, Inventory, SourceKind, TensorInfo
from vramcalc.readers.packed import detect_packed
from vramcalc.readers.safetensors_header import unknown_dtypes


def assemble(source: str, kind: SourceKind, tensors: list[TensorInfo], files: list[FileInfo],
             config: dict[str, Any] | None, metadata: dict[str, Any], notes: list[str] | None = None) -> Inventory:
    warnings = []
    unknown = unknown_dtypes(tensors)
    if unknown:
        warnings.append(f"dtype(s) {', '.join(unknown)} unknown to vramcalc: bytes are exact from the offsets, "
                        "parameter counts assume one element per stored element")
    inv = Inventory(source=source, kind=kind, tensors=tensors, files=files, config=config, metadata=metadata,
                    warnings=[*warnings, *(notes or [])])
    quant, true_params = detect_packed(inv, config)
    return inv.model_copy(update={"quantization": quant, "true_params": true_params}) if quant else inv


def assemble_pipeline(source: str, kind: SourceKind, components: list[str],
                      weights: dict[str, tuple[list[TensorInfo], list[FileInfo]]],
                      configs: dict[str, dict[str, Any] | None], index: dict[str, Any],
                      notes: list[str]) -> Inventory | None:
    """A diffusers pipeline: each component's weights in model_index.json's order; a component without weights is
    counted from its config.json where vramcalc knows its class (FLUX transformer, AutoencoderKL, CLIP and T5
    text encoders) and named otherwise (schedulers and tokenizers have no config to count). None: nothing to
    count at all."""
    from vramcalc.calculator.diffusion import pipeline_metadata

    tensors: list[TensorInfo] = []
    files: list[FileInfo] = []
    from_config: list[str] = []
    skipped: list[str] = []
    for name in components:
        if name in weights:
            tensors += weights[name][0]
            files += weights[name][1]
        elif name in configs:
            counted = component_from_config(configs[name], name, f"{source}/{name}")
            (from_config if counted else skipped).append(name)
            tensors += counted
    if not tensors:
        return None
    metadata = pipeline_metadata(index, configs.get("transformer"), configs)
    notes = [*notes, *([f"counted from config.json (no weights read): {', '.join(from_config)}"] if from_config
                       else []),
             *([f"not counted (no weights, and a config vramcalc cannot count from): {', '.join(skipped)}"]
               if skipped else [])]
    return assemble(source, kind if files else "config", tensors, files, None, metadata, notes)


def component_from_config(config: dict[str, Any] | None, name: str, label: str) -> list[TensorInfo]:
    """A pipeline component's tensors from its config.json (diffusers' `_class_name` or transformers'
    `model_type`); [] where vramcalc cannot count it."""
    if config is None:
        return []
    if "_class_name" in config and "model_type" not in config:
        from vramcalc.readers.diffusers_config import component_tensors

        return component_tensors(config, name) or []
    from vramcalc.errors import ArchitectureError
    from vramcalc.readers.config_json import inventory_from_config

    try:
        inv = inventory_from_config(config, label)
    except ArchitectureError:
        return []
    return [t.model_copy(update={"component": name}) for t in inv.tensors]
