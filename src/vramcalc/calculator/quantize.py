"""Per-tensor type choice for a target format (llama.cpp mixes and fallbacks live here)."""

from __future__ import annotations

from vramcalc.calculator.weights import TensorTypeChooser, default_chooser
from vramcalc.inventory import Inventory
from vramcalc.registry import Registry


def tensor_chooser(inventory: Inventory, registry: Registry) -> TensorTypeChooser:
    return default_chooser(registry)
