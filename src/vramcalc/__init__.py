"""vramcalc: model size and GPU memory (VRAM) estimates from real files, with the arithmetic shown.

    from vramcalc import estimate, inspect, compare, formats, gpus
    estimate("12B", formats=["bf16"]).rows[0].weight_bytes  # 24_000_000_000

Each returns the report object `--json` prints (see `vramcalc.api`); imported on first use, so that the command
line's start-up does not pay for it.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "compare", "estimate", "fit", "formats", "gpus", "inspect", "train"]

_API = {"estimate", "inspect", "compare", "formats", "gpus", "train", "fit"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from vramcalc import api

        if hasattr(api, name):
            return getattr(api, name)
    raise AttributeError(f"module 'vramcalc' has no attribute {name!r}")
