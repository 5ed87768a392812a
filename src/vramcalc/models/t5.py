"""T5 / mT5 / UMT5: encoder-decoder (or the encoder alone), relative position buckets, RMSNorm without mean,
SentencePiece vocabulary; t5's embeddings are tied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """T5 / mT5 / UMT5: a shared embedding, encoder blocks (self-attention + feed-forward), decoder blocks (+ cross-
    attention) unless the config is a T5EncoderModel, RMS LayerNorms without bias, relative position buckets in
    the first block of each stack (in every block for UMT5), a gated feed-forward for v1.1 / Flan (wi_0, wi_1)."""
    from vramcalc.architecture import cfg_get  # the architecture layer imports this package

    d, v = arch.hidden_size, arch.vocab_size
    heads, d_kv = arch.layers[0].num_heads, arch.layers[0].head_dim
    inner, d_ff = heads * d_kv, int(arch.intermediate_size or 4 * d)
    gated = str(cfg.get("feed_forward_proj", "relu")).startswith("gated")
    buckets = int(cfg.get("relative_attention_num_buckets") or 32)
    every_block = arch.model_type == "umt5"
    encoder_only = arch.is_encoder
    b.add("shared.weight", v, d)

    def stack(name: str, layers: int, cross: bool) -> None:
        for i in range(layers):
            p = f"{name}.block.{i}.layer."
            attns = ["SelfAttention"] + (["EncDecAttention"] if cross else [])
            for j, attn in enumerate(attns):
                for proj in ("q", "k", "v"):
                    b.add(f"{p}{j}.{attn}.{proj}.weight", inner, d)
                b.add(f"{p}{j}.{attn}.o.weight", d, inner)
                if attn == "SelfAttention" and (i == 0 or every_block):
                    b.add(f"{p}{j}.{attn}.relative_attention_bias.weight", buckets, heads)
                b.add(f"{p}{j}.layer_norm.weight", d)
            f = f"{p}{len(attns)}."
            for wi in (("wi_0", "wi_1") if gated else ("wi",)):
                b.add(f"{f}DenseReluDense.{wi}.weight", d_ff, d)
            b.add(f"{f}DenseReluDense.wo.weight", d, d_ff)
            b.add(f"{f}layer_norm.weight", d)
        b.add(f"{name}.final_layer_norm.weight", d)

    stack("encoder", int(cfg_get(cfg, "num_hidden_layers")), cross=False)
    if encoder_only:
        return ["T5 encoder only (T5EncoderModel): one forward pass, no KV cache"]
    stack("decoder", int(cfg.get("num_decoder_layers") or cfg_get(cfg, "num_hidden_layers")), cross=True)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, d)
    return ["T5 encoder-decoder: the KV cache counts the decoder's self-attention; the cross-attention keys and "
            "values of the encoded input (one set per decoder layer) are not counted"]


FAMILIES = [
    Family(model_types=("t5",), role="t5", positions="relative", tied_default=True, tokenizer="spm", builder=build),
    Family(model_types=("mt5", "umt5"), role="t5", positions="relative", tokenizer="spm", builder=build),
]
