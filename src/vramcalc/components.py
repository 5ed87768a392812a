"""Which part of a model a tensor belongs to, from its name (Hugging Face or GGUF naming)."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Literal

TensorClass = Literal[
    "embeddings", "attention", "mlp", "experts", "shared_experts", "router", "norms", "modulation", "lm_head",
    "vision", "projector", "other",
]


@cache
def _rules() -> list[tuple[TensorClass, re.Pattern[str]]]:
    """The class rules, compiled on first use (a bare count never classifies a tensor)."""
    return [
        ("vision", re.compile(r"(^|\.)(vision_tower|vision_model|visual|vit|image_encoder|v\.blk)\b|^v\.")),
        ("projector", re.compile(r"multi_modal_projector|mm_projector|(^|\.)mm\.|merger|connector")),
        # AdaLN: the Linear layers that compute a DiT block's shift/scale/gate from the timestep (FLUX, SD3's
        # `norm1.linear`, PixArt's `adaln_single.linear`, DiT's `adaLN_modulation.1`) — weights, not norm scales.
        ("modulation", re.compile(r"(norm\w*|adaln\w*)\.linear\.|adaLN_modulation\.#\.", re.IGNORECASE)),
        ("norms", re.compile(r"norm|Norm|ln_[0-9f]|(^|\.)ln\b|(^|\.)ln_(attn|mlp)\.|layernorm")),
        ("router", re.compile(r"(mlp|moe|block_sparse_moe|ffn)\.gate\.(weight|bias|e_score)|\.router\.|ffn_gate_inp|"
                              r"shared_expert_gate|e_score_correction|exp_probs_b")),
        ("shared_experts", re.compile(r"shared_expert|_shexp")),
        ("experts", re.compile(r"\.experts\.|_exps\.")),
        ("lm_head", re.compile(r"^lm_head\.|^output\.weight$|(^|\.)lm_head\.|(^|\.)embed_out\.")),
        ("embeddings", re.compile(r"embed_tokens|token_embd|(^|\.)wte\.|(^|\.)wpe\.|word_embeddings|(^|\.)embed_in\.|"
                                  r"position_embeddings|embed_positions|tok_embeddings|token_type_embeddings|^shared\.|"
                                  r"\.embeddings\.")),
        ("attention", re.compile(r"attn|attention|Attention|q_proj|k_proj|v_proj|o_proj|qkv|kv_a|kv_b|q_a|q_b|c_attn")),
        ("mlp", re.compile(r"mlp|ffn|feed_forward|gate_proj|up_proj|down_proj|fc1|fc2|c_fc|c_proj|w1|w2|w3|"
                           r"(^|\.)intermediate\.dense|(^|\.)output\.dense|DenseReluDense|(^|\.)ff(_context)?\.net\.")),
    ]


# Layer and expert indices ("layers.3", "experts.17") never decide a class: names that differ only in them share
# one rule search (DeepSeek-V3 has 256 experts × 58 layers × 3 projections).
_INDEX = re.compile(r"\.\d+(?=\.)")


def classify(name: str, ndim: int = 1) -> TensorClass:
    """The part of the model a tensor belongs to. A name that says "norm" makes a norm only of a 1-D tensor (a
    scale or bias): a ≥ 2-D weight under such a name is a projection and takes the next rule that matches."""
    return _classify(name, ndim >= 2)


def _classify(name: str, matrix: bool) -> TensorClass:
    # by the name's pattern only: a cache of whole names would overflow past a few hundred thousand tensors and
    # then miss on every lookup; patterns are a few hundred whatever the model
    return _classify_pattern(_INDEX.sub(".#", name) if "." in name else name, matrix)


@lru_cache(maxsize=1 << 15)
def _classify_pattern(name: str, matrix: bool) -> TensorClass:
    for cls, pattern in _rules():
        if matrix and cls == "norms":
            continue
        if pattern.search(name):
            return cls
    return "other"


def is_linear_weight(name: str, shape: tuple[int, ...]) -> bool:
    """A weight of a linear layer (what quantizers quantize): ≥ 2-D, named *weight, not a norm,
    router or embedding table. 3-D fused expert stacks count, also when named after their projection
    (gpt-oss, Llama 4: `experts.gate_up_proj`)."""
    if len(shape) < 2:
        return False
    if not name.endswith("weight"):
        return len(shape) >= 3 and name.endswith("_proj") and classify(name, len(shape)) == "experts"
    return classify(name, len(shape)) not in ("norms", "router", "embeddings", "lm_head")
