"""Hugging Face tensor names → the names llama.cpp's converter gives them in a GGUF.

llama.cpp's quantization rules (`llama_tensor_get_type`) look at GGUF names ("blk.7.attn_v.weight"), so a
checkpoint or config-derived inventory is first renamed the way `convert_hf_to_gguf.py` would. Per-expert
Linears ("mlp.experts.5.down_proj") become ONE 3-D tensor per layer ("blk.3.ffn_down_exps.weight"):
the rules see one ffn_down_exps per layer, not one per expert. Names are mapped for the common decoder
families (Llama/Mistral/Qwen/Gemma/Phi-3/Mixtral/Qwen-MoE/DeepSeek/GPT-2/Falcon); anything else keeps no GGUF
name and is treated as an "other" tensor.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vramcalc.components import classify

_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks|block)\.(\d+)\.(.+)$")

# Top-level (non-block) tensors, matched on the name's tail.
_TOP: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?:^|\.)(?:embed_tokens|wte|word_embeddings|tok_embeddings|embed_in)\.(weight)$"), "token_embd"),
    (re.compile(r"(?:^|\.)(?:wpe|embed_positions|position_embeddings)\.(weight)$"), "position_embd"),
    (re.compile(r"(?:^|\.)word_embeddings_layernorm\.(weight|bias)$"), "token_embd_norm"),  # BLOOM
    (re.compile(r"^(?:lm_head|output|embed_out)\.(weight|bias)$"), "output"),
    (re.compile(r"(?:^|\.)(?:lm_head)\.(weight|bias)$"), "output"),
    (re.compile(r"^(?:model\.|transformer\.|gpt_neox\.|model\.language_model\.|language_model\.model\.)?"
                r"(?:norm|ln_f|final_layernorm|final_layer_norm)\.(weight|bias)$"), "output_norm"),
]

# Inside a decoder block: HF module path (without .weight/.bias) → GGUF tensor stem.
_BLOCK: dict[str, str] = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "self_attn.qkv_proj": "attn_qkv", "self_attn.dense": "attn_output",
    "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
    "self_attn.q_a_proj": "attn_q_a", "self_attn.q_a_layernorm": "attn_q_a_norm", "self_attn.q_b_proj": "attn_q_b",
    "self_attn.kv_a_proj_with_mqa": "attn_kv_a_mqa", "self_attn.kv_a_layernorm": "attn_kv_a_norm",
    "self_attn.kv_b_proj": "attn_kv_b",
    "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
    "self_attention.query_key_value": "attn_qkv", "self_attention.dense": "attn_output",
    "attention.query_key_value": "attn_qkv", "attention.dense": "attn_output",
    "input_layernorm": "attn_norm", "ln_1": "attn_norm", "ln_2": "ffn_norm", "ln_attn": "attn_norm",
    "ln_mlp": "ffn_norm", "post_attention_layernorm": "ffn_norm",
    "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
    "mlp.gate_up_proj": "ffn_up", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down",
    "mlp.dense_h_to_4h": "ffn_up", "mlp.dense_4h_to_h": "ffn_down",
    "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down",
    "mlp.gate": "ffn_gate_inp", "block_sparse_moe.gate": "ffn_gate_inp", "mlp.router": "ffn_gate_inp",
    "mlp.shared_expert_gate": "ffn_gate_inp_shexp",
    "mlp.shared_expert.gate_proj": "ffn_gate_shexp", "mlp.shared_expert.up_proj": "ffn_up_shexp",
    "mlp.shared_expert.down_proj": "ffn_down_shexp",
    "mlp.shared_experts.gate_proj": "ffn_gate_shexp", "mlp.shared_experts.up_proj": "ffn_up_shexp",
    "mlp.shared_experts.down_proj": "ffn_down_shexp",
    # Llama 4 names its MLP feed_forward
    "feed_forward.gate_proj": "ffn_gate", "feed_forward.up_proj": "ffn_up", "feed_forward.down_proj": "ffn_down",
    "feed_forward.router": "ffn_gate_inp", "feed_forward.shared_expert.gate_proj": "ffn_gate_shexp",
    "feed_forward.shared_expert.up_proj": "ffn_up_shexp", "feed_forward.shared_expert.down_proj": "ffn_down_shexp",
}
# Gemma 2/3 have a norm after attention AND one before the MLP; the converter keeps them apart.
_GEMMA_BLOCK = {"post_attention_layernorm": "post_attention_norm"}

_EXPERT = re.compile(r"^(?:mlp|block_sparse_moe|moe)\.experts\.(\d+)\.(\w+)$")
_EXPERT_PROJ = {"gate_proj": "gate", "up_proj": "up", "down_proj": "down", "w1": "gate", "w3": "up", "w2": "down"}
# Checkpoints that already store experts fused (one 3-D tensor per projection).
_FUSED_EXPERTS = re.compile(
    r"^(?:mlp|block_sparse_moe|moe|feed_forward)\.experts\.(gate_up_proj|gate_proj|up_proj|down_proj)$")
# … also as bare parameters with no .weight (gpt-oss, Llama 4), biases as `<proj>_bias`
_BARE_FUSED = re.compile(r"^(?:mlp|feed_forward)\.experts\.(gate_up_proj|gate_proj|up_proj|down_proj)(_bias)?$")


@dataclass(frozen=True)
class GGUFName:
    """Where an HF tensor lands in a GGUF."""

    name: str  # "blk.3.ffn_down_exps.weight"
    layer: int | None  # block index, None for non-block tensors
    merged_experts: bool = False  # one of several HF tensors merged into one 3-D GGUF tensor


_MAPS: dict[tuple[int, str], tuple[weakref.ref[object], dict[str, GGUFName | None]]] = {}


def gguf_name_map(owner: object, groups: Callable[[], Iterable[Sequence[str]]], model_type: str
                  ) -> dict[str, GGUFName | None]:
    """Every name's GGUF name, worked out once per owner (an inventory: its source tensors' names, in groups alike
    but for their layer or expert indices) and shared by the quantizer's view and the file-size model. Kept while
    the owner lives, and no longer."""
    key = (id(owner), model_type)
    hit = _MAPS.get(key)
    if hit is not None and hit[0]() is owner:
        return hit[1]
    found = map_gguf_names(groups(), model_type)
    _MAPS[key] = (weakref.ref(owner), found)
    weakref.finalize(owner, _MAPS.pop, key, None)
    return found


def map_gguf_names(groups: Iterable[Sequence[str]], model_type: str) -> dict[str, GGUFName | None]:
    """`gguf_name` of every name, a group of names alike but for their indices at a time (`block_renumbering`):
    DeepSeek-V3's 45k source names are 23 groups: a rule walk each, and a split per name."""
    found: dict[str, GGUFName | None] = {}
    for names in groups:
        renumber = block_renumbering(names[0], model_type)
        if renumber is None:  # top-level, GGUF-named, vision or unmapped: name by name
            for n in names:
                found[n] = gguf_name(n, model_type)
            continue
        at, stem, merged = renumber
        made: dict[str, GGUFName] = {}  # one object per GGUF name (an MoE layer's experts share one)
        for n in names:
            index = n.split(".", at + 1)[at]
            g = made.get(index)
            if g is None:
                g = made[index] = GGUFName(f"blk.{int(index)}.{stem}", int(index), merged)
            found[n] = g
    return found


def block_renumbering(name: str, model_type: str) -> tuple[int, str, bool] | None:
    """For a name inside a block: the place of its block index among the dot-separated parts, the GGUF name's stem
    after "blk.<i>." and whether experts merge into it. Every name alike but for its indices shares all three: of
    those indices only the block index reaches a GGUF name, and the rules read the rest of the name (its class
    follows the pattern; its module path, where an expert's number is dropped). None outside a block, for a name
    already in GGUF form, and for one that is not mapped."""
    m = None if name.startswith(_GGUF_PREFIXES) else _LAYER.search(name)
    g = gguf_name(name, model_type) if m is not None else None
    if m is None or g is None:
        return None
    return name.count(".", 0, m.start(1)), g.name[len(f"blk.{int(m.group(1))}."):], g.merged_experts


_GGUF_PREFIXES = ("blk.", "token_embd.", "output.", "output_norm.", "rope_freqs.", "position_embd.")


def gguf_name(hf_name: str, model_type: str | None = None) -> GGUFName | None:
    """The GGUF name `convert_hf_to_gguf.py` gives this tensor, or None if this family is not mapped (uncached: a
    pass over many names maps them a group at a time, `map_gguf_names`)."""
    if hf_name.startswith(_GGUF_PREFIXES):
        m = re.match(r"^blk\.(\d+)\.", hf_name)
        return GGUFName(hf_name, int(m.group(1)) if m else None, "_exps." in hf_name)
    if classify(hf_name) in ("vision", "projector"):
        return None  # a vision tower goes to a separate mmproj GGUF, with its own names
    m = _LAYER.search(hf_name)
    if m is None:
        for pattern, top in _TOP:
            t = pattern.search(hf_name)
            if t:
                return GGUFName(f"{top}.{t.group(1)}", None)
        return None
    layer, rest = int(m.group(1)), m.group(2)
    if rest == "self_attn.sinks":
        return GGUFName(f"blk.{layer}.attn_sinks.weight", layer)
    bare = _BARE_FUSED.match(rest)  # gpt-oss, Llama 4: "mlp.experts.gate_up_proj", "mlp.experts.down_proj_bias"
    if bare:
        module, suffix = rest.removesuffix("_bias"), "bias" if bare.group(2) else "weight"
    else:
        module, _, suffix = rest.rpartition(".")
    if suffix not in ("weight", "bias"):
        return None
    e = _EXPERT.match(module)
    if e:
        proj = _EXPERT_PROJ.get(e.group(2))
        return GGUFName(f"blk.{layer}.ffn_{proj}_exps.{suffix}", layer, True) if proj else None
    f = _FUSED_EXPERTS.match(module)
    if f:
        proj = {"gate_up_proj": "up", "gate_proj": "gate", "up_proj": "up", "down_proj": "down"}[f.group(1)]
        return GGUFName(f"blk.{layer}.ffn_{proj}_exps.{suffix}", layer, False)
    stem: str | None = None
    if model_type and model_type.startswith("gemma"):
        stem = _GEMMA_BLOCK.get(module)
    stem = stem or _BLOCK.get(module)
    if stem is None:
        return None
    return GGUFName(f"blk.{layer}.{stem}.{suffix}", layer)


def layer_of(gguf: str) -> int:
    """llama.cpp's sort key part: the block index, -1 for non-block tensors (they come first)."""
    m = re.match(r"^blk\.(\d+)\.", gguf)
    return int(m.group(1)) if m else -1
