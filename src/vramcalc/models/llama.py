"""Llama and the decoders built like it: gated SiLU MLP, RMSNorm, rotary positions, untied output."""

from vramcalc.models.family import Family

FAMILIES = [
    Family(model_types=("llama",), llamacpp_arch="llama"),
    # Mistral/Mixtral: one sliding window on every layer when the config sets one
    Family(model_types=("mistral",), sliding="all", llamacpp_arch="llama"),
    Family(model_types=("mixtral",), sliding="all", llamacpp_arch="llama", experts_layout="block_sparse_moe"),
    Family(model_types=("phi3",), sliding="all", tokenizer="spm", fused_projections=True),
    Family(model_types=("granite", "cohere")),
    Family(model_types=("olmo2",), qk_norm=True),
]
