"""Gemma: RMSNorm in fp32 with (1 + weight), tied embeddings, a SentencePiece vocabulary; Gemma 2 alternates sliding
and global layers, Gemma 3 slides on all but every sliding_window_pattern-th layer and norms q/k."""

from vramcalc.models.family import Family

FAMILIES = [
    Family(model_types=("gemma",), norm="gemma_rmsnorm", tied_default=True, tokenizer="spm"),
    Family(model_types=("gemma2",), norm="gemma_rmsnorm", tied_default=True, sliding="alternate", tokenizer="spm",
           sandwich_norms=True),
    Family(model_types=("gemma3", "gemma3_text"), norm="gemma_rmsnorm", qk_norm=True, tied_default=True,
           sliding="pattern", tokenizer="spm", sandwich_norms=True),
]
