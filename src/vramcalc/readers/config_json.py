"""config.json alone → the tensors the real checkpoint would hold, named as Hugging Face names them.

Counting from the architecture (not a formula fitted to totals) means the same synthetic inventory serves the
parameter count, `inspect`'s component breakdown and per-tensor quantization predictions. The reader reads the file
and its quantization_config; each family's module in vramcalc.models builds its tensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vramcalc.architecture import architecture_from_config, text_config
from vramcalc.errors import ArchitectureError, SourceError
from vramcalc.inventory import Inventory
from vramcalc.models import LLAMA_STYLE, clip, decoder, vision
from vramcalc.models.tensors import TensorBuilder, dim

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture

_DTYPE = {
    "float32": "F32", "float": "F32", "fp32": "F32", "float16": "F16", "half": "F16", "fp16": "F16",
    "bfloat16": "BF16", "bf16": "BF16", "float64": "F64",
}


MAX_JSON_BYTES = 64 << 20  # the largest index.json published (DeepSeek-V3's) is ~9 MB; a config.json a few kB


def read_config_file(path: Path) -> dict[str, Any]:
    return read_json_object(path, "give a Hugging Face config.json")


def read_json_object(path: Path, todo: str = "check the file") -> dict[str, Any]:
    """A JSON object from a regular file of at most MAX_JSON_BYTES: SourceError for a FIFO or device, a file too
    large, bytes that are not UTF-8 JSON, nesting too deep to read, or anything but an object."""
    from vramcalc.readers.paths import require_regular

    require_regular(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}", "check the file") from e
    if len(raw) > MAX_JSON_BYTES:
        raise SourceError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MiB, more than a config or index holds",
                          todo)
    return parse_json_object(raw, str(path), todo)


def parse_json_object(raw: bytes, name: str, todo: str = "check the file") -> dict[str, Any]:
    """`raw` as a JSON object (a config.json, an index, model_index.json), or a SourceError that names `name`."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SourceError(f"{name} is not UTF-8 text (byte {e.start})", todo) from None
    except json.JSONDecodeError as e:
        raise SourceError(f"{name} is not valid JSON: {e.msg} at line {e.lineno}", todo) from None
    except ValueError as e:  # an integer of more digits than Python converts (4,300)
        raise SourceError(f"{name} is not JSON vramcalc can read ({e})", todo) from None
    except RecursionError:
        raise SourceError(f"{name} nests objects or arrays too deeply to read", todo) from None
    if not isinstance(data, dict):
        raise SourceError(f"{name} is not a JSON object", todo)
    return data


def _names(value: Any) -> list[str]:
    """A list of module names from a config, ignoring what is not one."""
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _dtype_of(config: dict[str, Any]) -> str:
    raw = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16").lower().replace("torch.", "")
    return _DTYPE.get(raw, "BF16")


def inventory_from_config(config: dict[str, Any], source: str) -> Inventory:
    """Synthetic, exact tensor list of the model a config.json describes (no weights needed)."""
    arch = architecture_from_config(config)
    cfg = text_config(config)
    qcfg = cfg.get("quantization_config") or {}
    fp8 = str(qcfg.get("quant_method", "")).lower() == "fp8"
    block = qcfg.get("weight_block_size") or [128, 128]
    if fp8 and not (isinstance(block, list) and len(block) == 2
                    and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in block)):
        raise ArchitectureError(f"config.json quantization_config weight_block_size is {block!r}, not two positive "
                                "whole numbers", "fix the config (DeepSeek-V3 uses [128, 128])")
    b = TensorBuilder(_dtype_of(cfg), fp8_block=(int(block[0]), int(block[1])) if fp8 else None,
                 fp8_skip=_names(qcfg.get("modules_to_not_convert")))
    warnings: list[str] = []
    if arch.family is LLAMA_STYLE:
        warnings.append(
            f"model_type {arch.model_type!r} is not one vramcalc knows by name; counted as a Llama-style decoder "
            "from its config fields — check with `vramcalc inspect` on the real checkpoint"
        )
    warnings += (arch.family.builder or decoder.build)(b, cfg, arch)
    if isinstance(config.get("vision_config"), dict):
        if config.get("model_type") == "clip":
            clip.build_vision(b, config, cfg)
        else:
            warnings += vision.build_vision(b, config, arch)
    elif arch.model_type == "clip_text_model" and "WithProjection" in " ".join(arch.architectures):
        b.add("text_projection.weight", dim(cfg, "projection_dim", arch.hidden_size), arch.hidden_size)
    tensors = b.tensors
    if fp8:
        warnings.append("config.json declares FP8 weights (quantization_config): linear weights counted as "
                        "F8_E4M3 with their fp32 block scales, the rest in torch_dtype")
    inv = Inventory(source=source, kind="config", tensors=tensors, config=config, warnings=warnings)
    if qcfg:  # packed storage built above (FP8 blocks, MXFP4 experts): true count beside the stored one
        from vramcalc.readers.packed import detect_packed

        quant, true_params = detect_packed(inv, cfg)
        inv = inv.model_copy(update={"quantization": quant, "true_params": true_params})
    return inv


def active_params(arch: Architecture, inventory: Inventory) -> int:
    """Parameters used per token: everything but the routed experts, plus experts_per_token of them."""
    if not arch.num_experts or not arch.experts_per_token:
        return inventory.total_params
    from vramcalc.readers.packed import param_count

    # per group of alike tensors: the name pattern keeps ".experts." and every suffix param_count reads
    routed = sum(param_count(alike[0], inventory.quantization) * len(alike)
                 for (pattern, *_), alike in inventory.groups.items()
                 if ".experts." in pattern or "_exps." in pattern)
    return inventory.total_params - routed + routed * int(arch.experts_per_token) // int(arch.num_experts)
