"""BERT-family encoders (BERT, RoBERTa, XLM-R, CamemBERT, ELECTRA): one forward pass, plain GELU MLP, LayerNorm,
learned positions — RoBERTa-style models number them from padding_idx + 1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """BERT-family encoders (BertModel, RobertaModel, XLMRobertaModel, ElectraModel) with the head the
    `architectures` entry names: a pooler for *Model (transformers' add_pooling_layer default), a classifier for
    *ForSequenceClassification (RoBERTa-style: dense + out_proj, no pooler), the tied MLM head for *ForMaskedLM."""
    from vramcalc.architecture import cfg_get  # the architecture layer imports this package

    h, v = arch.hidden_size, arch.vocab_size
    inter = int(arch.intermediate_size or 4 * h)
    mt = arch.model_type
    roberta = mt in ("roberta", "xlm-roberta", "camembert")
    archs = " ".join(arch.architectures)
    # *ForX checkpoints keep the encoder under the model's name ("bert.", "roberta."); a bare *Model has no prefix
    prefix = "" if not archs or archs.endswith("Model") or "Model " in archs else f"{mt.replace('-', '_')}."
    if mt == "xlm-roberta" and prefix:
        prefix = "roberta."
    emb = int(cfg.get("embedding_size") or h)  # ELECTRA-small projects 128-wide embeddings up to hidden
    b.add(prefix + "embeddings.word_embeddings.weight", v, emb)
    b.add(prefix + "embeddings.position_embeddings.weight", int(cfg_get(cfg, "max_position_embeddings") or 512), emb)
    types = int(cfg.get("type_vocab_size") or 2)
    if types:
        b.add(prefix + "embeddings.token_type_embeddings.weight", types, emb)
    b.add(prefix + "embeddings.LayerNorm.weight", emb)
    b.add(prefix + "embeddings.LayerNorm.bias", emb)
    if emb != h:
        b.add(prefix + "embeddings_project.weight", h, emb)
        b.add(prefix + "embeddings_project.bias", h)
    for i in range(arch.num_layers):
        p = f"{prefix}encoder.layer.{i}."
        for proj in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            b.add(p + proj + ".weight", h, h)
            b.add(p + proj + ".bias", h)
        b.add(p + "intermediate.dense.weight", inter, h)
        b.add(p + "intermediate.dense.bias", inter)
        b.add(p + "output.dense.weight", h, inter)
        b.add(p + "output.dense.bias", h)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            b.add(p + ln + ".weight", h)
            b.add(p + ln + ".bias", h)
    id2label = cfg.get("id2label")  # a mapping of class names; anything else is not one (num_labels then)
    labels = (len(id2label) if isinstance(id2label, dict) else 0) or int(cfg.get("num_labels") or 2)
    if "ForSequenceClassification" in archs:
        if roberta:
            b.add("classifier.dense.weight", h, h)
            b.add("classifier.dense.bias", h)
            b.add("classifier.out_proj.weight", labels, h)
            b.add("classifier.out_proj.bias", labels)
        else:
            b.add(prefix + "pooler.dense.weight", h, h)
            b.add(prefix + "pooler.dense.bias", h)
            b.add("classifier.weight", labels, h)
            b.add("classifier.bias", labels)
    elif "ForMaskedLM" in archs:
        head = "lm_head." if roberta else "cls.predictions.transform."
        b.add(head + "dense.weight", h, h)
        b.add(head + "dense.bias", h)
        b.add(head + ("layer_norm" if roberta else "LayerNorm") + ".weight", h)
        b.add(head + ("layer_norm" if roberta else "LayerNorm") + ".bias", h)
        b.add(("lm_head." if roberta else "cls.predictions.") + "bias", v)  # the decoder is tied to the embeddings
    elif mt != "electra":
        b.add(prefix + "pooler.dense.weight", h, h)
        b.add(prefix + "pooler.dense.bias", h)
    return ["encoder-only model: one forward pass over the input, no KV cache; context = tokens per input "
            f"(at most {arch.max_context or 512})"]


FAMILIES = [
    Family(model_types=("bert", "electra"), role="encoder", mlp="plain", norm="layernorm", positions="learned",
           builder=build),
    Family(model_types=("roberta", "xlm-roberta", "camembert"), role="encoder", mlp="plain", norm="layernorm",
           positions="learned", position_offset=True, builder=build),
]
