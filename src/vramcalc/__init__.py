"""vramcalc: model size and GPU memory (VRAM) estimates from real files, with the arithmetic shown."""

__version__ = "0.1.0"
