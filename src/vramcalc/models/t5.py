"""T5 / mT5 / UMT5: encoder-decoder (or the encoder alone), relative position buckets, RMSNorm without mean,
SentencePiece vocabulary; t5's embeddings are tied."""

from vramcalc.models.family import Family

FAMILIES = [
    Family(model_types=("t5",), role="t5", positions="relative", tied_default=True, tokenizer="spm"),
    Family(model_types=("mt5", "umt5"), role="t5", positions="relative", tokenizer="spm"),
]
