"""What a model family is, as data: the facts the calculator needs about an architecture that its config.json does
not spell out (is the MLP gated, which norm, how positions are encoded, which layers slide, how its KV is cached …).

Each family module (llama.py, gemma.py, …) declares its records; `vramcalc.models.family_of(model_type)` finds one,
and `Architecture.family` hands it to every calculator. A config.json whose model_type no module claims gets the
Llama-style default (and a warning from the reader).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder

# builds the tensors a config.json describes, as transformers names them; returns warnings for the reader
Builder = Callable[["TensorBuilder", dict[str, Any], "Architecture"], list[str]]

Mlp = Literal["gated", "plain"]  # down(act(gate(x)) * up(x)) or proj(act(fc(x)))
Norm = Literal["rmsnorm", "layernorm", "gemma_rmsnorm"]  # gemma's RMSNorm computes in fp32 (1 + weight)
Positions = Literal["rope", "learned", "relative", "alibi"]
Role = Literal["decoder", "encoder", "t5", "clip"]
# which layers attend within a window when the config sets one: none; all; every other (gemma2); all but every
# sliding_window_pattern-th (gemma3); from max_window_layers on, when use_sliding_window (qwen2); chunks (llama4)
Sliding = Literal["none", "all", "alternate", "pattern", "max_window_layers", "chunked"]
KvLayout = Literal["heads", "mla"]
Tokenizer = Literal["bpe", "spm"]
ExpertsLayout = Literal["mlp", "block_sparse_moe"]


@dataclass(frozen=True)
class Family:
    model_types: tuple[str, ...]
    role: Role = "decoder"
    mlp: Mlp = "gated"
    default_act: str | None = None  # the activation when config.json names none (transformers' config default)
    norm: Norm = "rmsnorm"
    qk_norm: bool = False
    positions: Positions = "rope"
    position_offset: bool = False  # RoBERTa numbers positions from padding_idx + 1
    tied_default: bool = False  # tie_word_embeddings when config.json does not say
    sliding: Sliding = "none"
    sliding_mask_always: bool = False  # transformers builds a sliding mask even when no layer slides (qwen2_moe)
    kv: KvLayout = "heads"
    multi_query: bool = False  # one K/V head for all when config.json's multi_query is true or absent
    transformers_full_mla: bool = False  # an MLA model whose transformers class caches K and V expanded per head
    shared_expert_default: int | None = None  # shared experts when config.json does not say (llama4: 1)
    shared_expert_width_default: bool = False  # a shared expert as wide as intermediate_size unless stated
    moe_width_is_intermediate: bool = False  # moe_intermediate_size defaults to intermediate_size (llama4)
    llamacpp_arch: str | None = None  # the llama.cpp architecture its converter writes, where rules depend on it
    tokenizer: Tokenizer = "bpe"
    # how the Llama-style decoder (models/decoder.py) names and shapes this family's tensors
    qkv_bias: bool = False  # q, k and v biased whatever attention_bias says (Qwen2)
    o_proj_bias: bool = True  # attention_bias biases o_proj too (not Qwen2's, nor GLM-4.5's)
    sandwich_norms: bool = False  # norms before and after the MLP as well (Gemma 2 and 3)
    fused_projections: bool = False  # one qkv_proj and one gate_up_proj (Phi-3)
    experts_layout: ExpertsLayout = "mlp"  # mlp.experts.N.{gate,up,down}_proj, or block_sparse_moe.experts.N.w1..3
    router_bias: bool = False  # the router's e_score_correction_bias (DeepSeek-V3, GLM-4.5)
    shared_expert_gate: bool = False  # one shared expert behind a sigmoid gate (Qwen2-MoE)
    builder: Builder | None = None  # the family's tensor builder (None: the Llama-style decoder's)

    @property
    def gated(self) -> bool:
        return self.mlp == "gated"


LLAMA_STYLE = Family(model_types=())
