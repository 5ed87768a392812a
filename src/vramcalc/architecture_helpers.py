"""Architecture facts about an inventory: which architecture it has, its active parameters, a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.inventory import Inventory


def architecture_of(inventory: Inventory) -> tuple[Architecture | None, str | None]:
    """The architecture behind an inventory (config.json or GGUF metadata), or a note saying why not."""
    from vramcalc.architecture import architecture_from_config, architecture_from_gguf
    from vramcalc.errors import ArchitectureError

    try:
        if inventory.kind == "gguf" and inventory.metadata:
            return architecture_from_gguf(inventory.metadata), None
        if inventory.config:
            return architecture_from_config(inventory.config), None
    except ArchitectureError as e:
        return None, f"architecture unknown ({e.what}): KV cache and active parameters need it"
    return None, None


def active_params_of(arch: Architecture | None, inventory: Inventory) -> int | None:
    if arch is None or not arch.is_moe:
        return None
    from vramcalc.readers.config_json import active_params

    return active_params(arch, inventory)


def architecture_summary(arch: Architecture) -> dict[str, object]:
    first = arch.layers[0] if arch.layers else None
    kinds: dict[str, int] = {}
    for layer in arch.layers:
        kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
    summary: dict[str, object] = {
        "model_type": arch.model_type, "layers": arch.num_layers, "hidden_size": arch.hidden_size,
        "heads": first.num_heads if first else None, "kv_heads": first.num_kv_heads if first else None,
        "head_dim": first.head_dim if first else None, "vocab_size": arch.vocab_size,
        "max_context": arch.max_context, "attention": kinds,
    }
    if arch.is_moe:
        summary.update(experts=arch.num_experts, experts_per_token=arch.experts_per_token,
                       shared_experts=arch.num_shared_experts)
    if arch.is_mla and first is not None:
        summary.update(kv_lora_rank=first.kv_lora_rank, qk_rope_head_dim=first.qk_rope_head_dim)
    return summary
