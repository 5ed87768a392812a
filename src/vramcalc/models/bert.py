"""BERT-family encoders (BERT, RoBERTa, XLM-R, CamemBERT, ELECTRA): one forward pass, plain GELU MLP, LayerNorm,
learned positions — RoBERTa-style models number them from padding_idx + 1."""

from vramcalc.models.family import Family

FAMILIES = [
    Family(model_types=("bert", "electra"), role="encoder", mlp="plain", norm="layernorm", positions="learned"),
    Family(model_types=("roberta", "xlm-roberta", "camembert"), role="encoder", mlp="plain", norm="layernorm",
           positions="learned", position_offset=True),
]
