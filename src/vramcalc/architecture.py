"""A model's architecture, normalised from config.json or GGUF metadata: what parameter counting, the
KV cache and the activation estimate need. Filled by `from_config` / `from_gguf_metadata`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

LayerKind = Literal["full", "sliding", "chunked", "linear", "mamba", "none"]


class Attention(BaseModel):
    """Per-layer attention, enough to size the KV cache exactly."""

    kind: LayerKind = "full"
    num_heads: int
    num_kv_heads: int
    head_dim: int = Field(description="per-head dim of K (and Q)")
    v_head_dim: int | None = Field(None, description="per-head dim of V when it differs from K's")
    window: int | None = Field(None, description="tokens kept by a sliding/chunked layer")
    # MLA (DeepSeek-V2/V3): the cache holds kv_lora_rank + qk_rope_head_dim per token per layer.
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    # Mamba / linear attention: a constant state per sequence instead of a per-token cache.
    state_bytes_per_seq: int | None = None


class Architecture(BaseModel):
    model_type: str
    architectures: list[str] = []
    hidden_size: int
    num_layers: int
    vocab_size: int
    intermediate_size: int | None = None
    layers: list[Attention] = Field(description="one entry per decoder layer")
    max_context: int | None = None
    tie_word_embeddings: bool = False
    torch_dtype: str | None = None
    num_experts: int | None = None
    experts_per_token: int | None = None
    num_shared_experts: int | None = None
    moe_intermediate_size: int | None = None
    first_dense_layers: int = 0
    extra: dict[str, Any] = Field({}, description="fields kept for engines and reporting")

    @property
    def is_moe(self) -> bool:
        return bool(self.num_experts)

    @property
    def is_mla(self) -> bool:
        return any(a.kv_lora_rank for a in self.layers)
