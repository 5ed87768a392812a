"""OPT: plain MLP (fc1 → relu → fc2), LayerNorm, learned positions (offset by 2), tied embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.blocks import ungated_layer
from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """OPT: learned positions offset by 2, split biased q/k/v/out, fc1/fc2, tied embeddings."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(cfg.get("ffn_dim") or arch.intermediate_size or 4 * h)
    proj = int(cfg.get("word_embed_proj_dim") or h)
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "out": "self_attn.out_proj",
             "up": "fc1", "down": "fc2"}
    b.add("model.decoder.embed_tokens.weight", v, proj)
    b.add("model.decoder.embed_positions.weight", int(cfg.get("max_position_embeddings") or 2048) + 2, h)
    if proj != h:
        b.add("model.decoder.project_in.weight", h, proj)
        b.add("model.decoder.project_out.weight", proj, h)
    for i in range(arch.num_layers):
        ungated_layer(b, f"model.decoder.layers.{i}.", names, h, 3 * h, inter, True,
                      ("self_attn_layer_norm", "final_layer_norm"))
    if cfg.get("do_layer_norm_before", True) and not cfg.get("_remove_final_layer_norm", False):
        b.add("model.decoder.final_layer_norm.weight", h)
        b.add("model.decoder.final_layer_norm.bias", h)
    return []


FAMILIES = [Family(model_types=("opt",), mlp="plain", norm="layernorm", positions="learned", tied_default=True,
                   builder=build)]
