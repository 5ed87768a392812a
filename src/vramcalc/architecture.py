"""A model's architecture, normalised from config.json or GGUF metadata: what parameter counting, the
KV cache and the activation estimate need. Filled by `from_config` / `from_gguf_metadata`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from vramcalc.models import Family, family_of, model_types_of

# "encoder": bidirectional self-attention over the whole input, nothing cached (BERT-style embedding models)
LayerKind = Literal["full", "sliding", "chunked", "linear", "mamba", "none", "encoder"]
# T5 family: encoder-decoder, or the encoder alone (the text encoder of FLUX, SD3 and many pipelines)
T5_TYPES = model_types_of("t5")


def _t5_encoder_only(config: dict[str, Any]) -> bool:
    return any(str(a).endswith("EncoderModel") for a in config.get("architectures") or [])


# llama.cpp architectures that embed rather than generate (non-causal attention, no KV cache kept)
GGUF_ENCODER_ARCHS = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "modern-bert",
                                "t5encoder"})
# Encoder-only models with BERT's layout (embedding and reranker models: bge, e5, gte, multilingual-e5 …)
ENCODER_TYPES = model_types_of("encoder")
# CLIP: a text tower (the text encoder of Stable Diffusion and FLUX) and, for CLIPModel, a vision tower
CLIP_TYPES = model_types_of("clip")


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
    def family(self) -> Family:
        """What the family of this model_type is (vramcalc.models): MLP kind, norm, positions, sliding pattern …"""
        return family_of(self.model_type)

    @property
    def is_moe(self) -> bool:
        return bool(self.num_experts)

    @property
    def is_encoder(self) -> bool:
        """Encoder-only: one forward pass over the input, no KV cache, no generation."""
        return bool(self.layers) and all(a.kind == "encoder" for a in self.layers)

    def context_warning(self, context: int) -> str | None:
        """What to tell a user who asks for more context than the model was built for."""
        if not self.max_context or context <= self.max_context:
            return None
        head = f"context {context:,} is above the model's maximum ({self.max_context:,}): "
        if self.is_encoder:
            return head + "longer inputs are truncated to it (learned position embeddings end there)"
        return head + "it may not work without rope scaling"

    @property
    def is_mla(self) -> bool:
        return any(a.kv_lora_rank for a in self.layers)


# --------------------------------------------------------------------------- config.json → Architecture

from vramcalc.errors import ArchitectureError  # noqa: E402

_FIELD_FLAGS = {
    "num_hidden_layers": "--layers",
    "hidden_size": "--hidden-size",
    "num_attention_heads": "--heads",
    "vocab_size": "--vocab-size",
}
_ALIASES: dict[str, tuple[str, ...]] = {
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim"),
    "num_attention_heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "vocab_size": ("vocab_size",),
    "intermediate_size": ("intermediate_size", "n_inner", "ffn_dim", "d_ff"),
    "max_position_embeddings": ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"),
}


def text_config(config: dict[str, Any]) -> dict[str, Any]:
    """Multimodal configs (Gemma 3, Llava, Qwen-VL …) nest the language model under `text_config`."""
    inner = config.get("text_config")
    if isinstance(inner, dict) and ("num_hidden_layers" in inner or "hidden_size" in inner):
        merged = {k: v for k, v in config.items() if k != "text_config"}
        merged.update(inner)
        merged.setdefault("model_type", inner.get("model_type", config.get("model_type")))
        return merged
    return config


def cfg_get(config: dict[str, Any], field: str, default: Any = None) -> Any:
    for key in _ALIASES.get(field, (field,)):
        if config.get(key) is not None:
            return config[key]
    return default


def _require(config: dict[str, Any], fields: list[str]) -> None:
    missing = [f for f in fields if cfg_get(config, f) is None]
    if missing:
        what = ", ".join(missing)
        flags = ", ".join(_FIELD_FLAGS[f] for f in missing if f in _FIELD_FLAGS)
        model_type = config.get("model_type", "unknown")
        raise ArchitectureError(
            f"config.json (model_type {model_type!r}) has no {what}",
            "give a config.json with these fields" + (f" or pass {flags}" if flags else ""),
        )


def _layer_kinds(config: dict[str, Any], n_layers: int) -> list[LayerKind]:
    """Which layers attend globally, within a window, or not at all (linear attention / Mamba)."""
    model_type = str(config.get("model_type", ""))
    if model_type in ENCODER_TYPES or model_type in CLIP_TYPES or (model_type in T5_TYPES
                                                                    and _t5_encoder_only(config)):
        return ["encoder"] * n_layers
    family = family_of(model_type)
    if family.sliding == "chunked" and config.get("attention_chunk_size"):
        # rope layers attend within chunks; every no_rope_layers == 0 layer (by default each 4th) attends globally
        nope = config.get("no_rope_layers") or [int((i + 1) % 4 != 0) for i in range(n_layers)]
        return ["chunked" if (nope[i] if i < len(nope) else 1) else "full" for i in range(n_layers)]
    window = config.get("sliding_window")
    types = config.get("layer_types")
    if isinstance(types, list) and len(types) == n_layers:
        mapping: dict[str, LayerKind] = {
            "full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked",
            "linear_attention": "linear", "mamba": "mamba", "attention": "full",
        }
        return [mapping.get(str(t), "full") for t in types]
    if family.sliding == "alternate" and window:
        return ["sliding" if i % 2 == 0 else "full" for i in range(n_layers)]
    if family.sliding == "pattern" and window:
        pattern = int(config.get("sliding_window_pattern") or 6)
        return ["full" if (i + 1) % pattern == 0 else "sliding" for i in range(n_layers)]
    if family.sliding == "max_window_layers":
        if config.get("use_sliding_window") and window:
            start = int(config.get("max_window_layers") or 0)
            return ["sliding" if i >= start else "full" for i in range(n_layers)]
        return ["full"] * n_layers
    if window and family.sliding == "all":
        return ["sliding"] * n_layers
    return ["full"] * n_layers


def _multi_query_kv_heads(cfg: dict[str, Any], family: Family) -> int | None:
    """Families whose config says multi_query (true unless stated: Falcon-7B, GPT-BigCode) share one K/V head;
    Falcon's new decoder architecture (40B, 180B) groups them instead."""
    if not family.multi_query:
        return None
    if cfg.get("new_decoder_architecture"):
        return int(cfg.get("num_kv_heads") or 8)
    return 1 if cfg.get("multi_query", True) else None


def _max_context(cfg: dict[str, Any], model_type: str) -> int | None:
    mpe = cfg_get(cfg, "max_position_embeddings")
    if mpe is None:
        return None
    if family_of(model_type).position_offset:
        # RoBERTa numbers positions from padding_idx + 1: a 514-row table holds 512 tokens (real configs may have
        # pad_token_id null: transformers' default, 1, then)
        pad = cfg.get("pad_token_id")
        tokens = int(mpe) - (pad if isinstance(pad, int) and not isinstance(pad, bool) else 1) - 1
        if tokens < 1:
            raise ArchitectureError(f"config.json max_position_embeddings {mpe:,} leaves no position for a token after "
                                    f"the padding index", "fix max_position_embeddings or pad_token_id")
        return tokens
    # A rope_scaling section added to a config whose max_position_embeddings is still the original (Qwen2.5's
    # YaRN recipe: factor 4 over 32,768) extends it by the factor; Llama 3.1 already states the extended length.
    rope = cfg.get("rope_scaling")
    if isinstance(rope, dict):
        factor, original = rope.get("factor"), rope.get("original_max_position_embeddings")
        if isinstance(factor, int | float) and not isinstance(factor, bool) and factor > 1 and original == mpe:
            if not factor <= MAX_ROPE_FACTOR:  # inf, NaN, 1e308: no model extends its context that far
                raise ArchitectureError(f"config.json rope_scaling.factor is {factor!r}, beyond any model",
                                        "fix the config")
            return int(mpe * factor)
    return int(mpe)


# Size fields read as whole numbers: positive, or ≥ 0 for counts that may be zero.
_POSITIVE = ("hidden_size", "n_embd", "d_model", "num_hidden_layers", "n_layer", "num_layers", "num_attention_heads",
             "n_head", "num_heads", "num_key_value_heads", "num_kv_heads", "n_head_kv", "head_dim", "vocab_size",
             "intermediate_size", "n_inner", "ffn_dim", "moe_intermediate_size", "intermediate_size_mlp",
             "max_position_embeddings", "n_positions", "num_local_experts", "num_experts", "n_routed_experts",
             "num_experts_per_tok", "sliding_window", "attention_chunk_size", "kv_lora_rank", "q_lora_rank",
             "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "shared_expert_intermediate_size",
             "embedding_size", "word_embed_proj_dim", "ffn_hidden_size", "patch_size", "image_size",
             "interleave_moe_layer_step", "d_kv", "num_decoder_layers", "relative_attention_num_buckets",
             "sliding_window_pattern", "decoder_sparse_step", "moe_layer_freq", "moe_topk", "num_channels",
             "num_labels")
_NON_NEGATIVE = ("first_k_dense_replace", "n_shared_experts", "num_nextn_predict_layers", "type_vocab_size",
                 "pad_token_id", "max_window_layers")
_INT_LISTS = ("mlp_only_layers", "no_rope_layers")  # layer indices, or flags per layer


def _short(value: Any) -> str:
    """A config value for an error message: repr'd, cut where long (a 4,000-digit number, a megabyte of text)."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 1000 else "a number of over 300 digits"
    return text if len(text) <= 60 else text[:57] + "…"
MAX_ROPE_FACTOR = 1024


# Counts that set how many tensors a config-derived inventory holds: bounded so that no config, however wrong, can
# make vramcalc allocate without limit (the largest published models have ~100 layers and ~400 experts).
_LIMITS = {"num_hidden_layers": 10_000, "n_layer": 10_000, "num_layers": 10_000, "num_decoder_layers": 10_000,
           "num_local_experts": 65_536, "num_experts": 65_536, "n_routed_experts": 65_536, "num_labels": 1 << 24}
# Layers × experts, each within its bound, still sets the tensor count: Kimi-K2 has 61 × 384 ≈ 23k, Qwen3-Next
# 48 × 512 ≈ 25k; 65,536 is ~200k expert tensors, what pricing every default row of takes ~40 s.
MAX_LAYER_EXPERTS = 65_536
_DICTS = ("text_config", "vision_config", "quantization_config", "rope_scaling")


def check_size_fields(config: dict[str, Any], where: str = "config.json") -> None:
    """Refuse a malformed size field (not a whole number, zero where a count must be positive, absurdly large), or a
    section of the wrong type, naming it — before any arithmetic trips over it. Nested configs are checked too."""
    for key, value in config.items():
        if value is None:
            continue
        if key in _DICTS and not isinstance(value, dict):
            raise ArchitectureError(f"{where} field {key!r} is {_short(value)}, not an object", "fix the config")
        if key in ("text_config", "vision_config"):
            check_size_fields(value, f"{where} {key}")
            continue
        if key in ("torch_dtype", "dtype", "model_type") and not isinstance(value, str):
            raise ArchitectureError(f"{where} field {key!r} is {_short(value)}, not a name", "fix the config")
        if key == "layer_types" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ArchitectureError(f"{where} field 'layer_types' is {value!r}, not a list of names", "fix the config")
        if key == "architectures" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ArchitectureError(f"{where} field 'architectures' is {_short(value)}, not a list of class names",
                                    "fix the config")
        if key in _INT_LISTS and not (isinstance(value, list) and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 20 for v in value)):
            raise ArchitectureError(f"{where} field {key!r} is {_short(value)}, not a list of layer numbers",
                                    "fix the config")
        if key not in _POSITIVE + _NON_NEGATIVE:
            continue
        low = 1 if key in _POSITIVE else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            need = "a positive whole number" if low else "a whole number"
            raise ArchitectureError(f"{where} field {key!r} is {_short(value)}, not {need}", "fix the config")
        if value > _LIMITS.get(key, 1 << 40):
            raise ArchitectureError(f"{where} field {key!r} is {_short(value)}, beyond any real model",
                                    "fix the config")
    layers = next((v for k in ("num_hidden_layers", "n_layer", "num_layers") if isinstance(v := config.get(k), int)),
                  0)
    experts = next((v for k in ("num_local_experts", "num_experts", "n_routed_experts")
                    if isinstance(v := config.get(k), int)), 0)
    if layers * experts > MAX_LAYER_EXPERTS:
        raise ArchitectureError(f"{where} describes {layers:,} layers × {experts:,} experts, beyond any real model",
                                "fix num_hidden_layers or the expert count")


def architecture_from_config(config: dict[str, Any]) -> Architecture:
    """Normalise a Hugging Face config.json. Raises ArchitectureError naming missing or malformed fields."""
    check_size_fields(config)
    cfg = text_config(config)
    _require(cfg, ["num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size"])
    model_type = str(cfg.get("model_type", "unknown"))
    hidden = int(cfg_get(cfg, "hidden_size"))
    n_layers = int(cfg_get(cfg, "num_hidden_layers"))
    heads = int(cfg_get(cfg, "num_attention_heads"))
    kv_heads = int(cfg.get("num_key_value_heads") or cfg.get("n_head_kv")
                   or _multi_query_kv_heads(cfg, family_of(model_type)) or heads)
    head_dim = int(cfg.get("head_dim") or cfg.get("d_kv") or hidden // heads)
    window = cfg.get("sliding_window") or cfg.get("attention_chunk_size")
    kinds = _layer_kinds(cfg, n_layers)
    family = family_of(model_type)
    mla = family.kv == "mla" or cfg.get("kv_lora_rank") is not None
    if mla:
        _require(cfg, ["kv_lora_rank"])  # the latent width MLA caches: nothing to price without it
    layers = []
    for kind in kinds:
        if mla:
            nope, rope = int(cfg.get("qk_nope_head_dim") or 128), int(cfg.get("qk_rope_head_dim") or 64)
            layers.append(Attention(
                kind=kind, num_heads=heads, num_kv_heads=heads, head_dim=nope + rope,
                v_head_dim=int(cfg.get("v_head_dim") or 128), kv_lora_rank=int(cfg["kv_lora_rank"]),
                qk_rope_head_dim=rope,
            ))
        else:
            layers.append(Attention(
                kind=kind, num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim,
                window=int(window) if kind in ("sliding", "chunked") and window else None,
            ))
    n_experts = cfg.get("num_local_experts") or cfg.get("num_experts") or cfg.get("n_routed_experts")
    tie = cfg.get("tie_word_embeddings")
    if tie is None:  # transformers' default is tied, except where a model class overrides it
        tie = family.tied_default
    extra: dict[str, Any] = {}
    if cfg.get("rope_scaling"):
        extra["rope_scaling"] = cfg["rope_scaling"]
    # what the activation model needs: the MLP's activation (gelu_pytorch_tanh keeps more tensors than silu) and
    # the shared expert's own width (Qwen2-MoE)
    act = cfg.get("hidden_act") or cfg.get("hidden_activation") or cfg.get("activation_function")
    if isinstance(act, str):
        extra["hidden_act"] = act
    if isinstance(cfg.get("shared_expert_intermediate_size"), int):
        extra["shared_expert_intermediate_size"] = cfg["shared_expert_intermediate_size"]
    return Architecture(
        model_type=model_type,
        architectures=list(cfg.get("architectures") or []),
        hidden_size=hidden,
        num_layers=n_layers,
        vocab_size=int(cfg_get(cfg, "vocab_size")),
        intermediate_size=cfg_get(cfg, "intermediate_size"),
        layers=layers,
        max_context=_max_context(cfg, model_type),
        tie_word_embeddings=bool(tie),
        torch_dtype=cfg.get("torch_dtype") or cfg.get("dtype"),
        num_experts=int(n_experts) if n_experts else None,
        experts_per_token=cfg.get("num_experts_per_tok") or cfg.get("moe_topk"),
        num_shared_experts=cfg.get("n_shared_experts") or family.shared_expert_default,
        moe_intermediate_size=cfg.get("moe_intermediate_size") or (
            cfg.get("intermediate_size") if family.moe_width_is_intermediate else None),
        first_dense_layers=int(cfg.get("first_k_dense_replace") or 0),
        extra=extra,
    )


# --------------------------------------------------------------------------- GGUF metadata → Architecture


def _gguf_len(value: Any) -> int | None:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict) and "len" in value:
        return int(value["len"])
    return None


def architecture_from_gguf(metadata: dict[str, Any]) -> Architecture:
    """From llama.cpp's GGUF keys (`{arch}.block_count`, `{arch}.attention.head_count_kv` …). A key of the wrong
    type or out of range is an ArchitectureError naming it: a file's metadata is never trusted."""
    arch = metadata.get("general.architecture")
    if not arch or not isinstance(arch, str):
        raise ArchitectureError("GGUF metadata has no general.architecture", "check that the file is a model GGUF")

    def bad(name: str, value: Any) -> ArchitectureError:
        return ArchitectureError(f"GGUF metadata {arch}.{name} is {value!r}, not a whole number in range",
                                 "the file's metadata is malformed: pass --layers/--kv-heads/--head-dim")

    def num(name: str, low: int = 1, high: int = 1 << 40) -> int | None:
        value = metadata.get(f"{arch}.{name}")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad(name, value)
        return value

    def per_layer(name: str, n: int, default: int | None) -> list[int]:
        value = metadata.get(f"{arch}.{name}")
        if isinstance(value, list):  # per-layer arrays (hybrid models): one whole number per block
            if len(value) != n or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 20
                                          for v in value):
                raise bad(name, value)
            return list(value)
        one = num(name, low=0, high=1 << 20)
        return [one if one is not None else (default or 0)] * n

    n_layers, hidden = num("block_count", high=10_000), num("embedding_length")
    heads_raw = metadata.get(f"{arch}.attention.head_count")
    missing = [n for n, v in (("block_count", n_layers), ("embedding_length", hidden),
                              ("attention.head_count", heads_raw)) if v is None]
    if missing or n_layers is None or hidden is None:
        raise ArchitectureError(
            f"GGUF metadata lacks {', '.join(f'{arch}.{m}' for m in missing)}", "pass --layers/--kv-heads/--head-dim"
        )
    heads_list = per_layer("attention.head_count", n_layers, None)
    kv_list = per_layer("attention.head_count_kv", n_layers, None) \
        if metadata.get(f"{arch}.attention.head_count_kv") is not None else list(heads_list)
    k_len, v_len = num("attention.key_length"), num("attention.value_length")
    window, kv_lora, rope_dim = num("attention.sliding_window"), num("attention.kv_lora_rank"), \
        num("rope.dimension_count")
    encoder = arch in GGUF_ENCODER_ARCHS or metadata.get(f"{arch}.attention.causal") is False
    layers = []
    for nh, nkv in zip(heads_list, kv_list, strict=True):
        hd = k_len if k_len else (hidden // nh if nh else 0)
        kind: LayerKind = "encoder" if encoder else "full" if nkv else "none"
        layers.append(Attention(
            kind=kind, num_heads=nh, num_kv_heads=nkv, head_dim=hd,
            v_head_dim=v_len if v_len and v_len != k_len else None,
            window=window or None,
            kv_lora_rank=kv_lora or None,
            qk_rope_head_dim=rope_dim if kv_lora and rope_dim else None,
        ))
    vocab = _gguf_len(metadata.get("tokenizer.ggml.tokens")) or num("vocab_size") or 0
    ffn = metadata.get(f"{arch}.feed_forward_length")
    return Architecture(
        model_type=arch,
        hidden_size=hidden,
        num_layers=n_layers,
        vocab_size=int(vocab),
        intermediate_size=None if isinstance(ffn, list) else num("feed_forward_length"),
        layers=layers,
        max_context=num("context_length"),
        num_experts=num("expert_count", high=65_536),
        experts_per_token=num("expert_used_count", high=65_536),
        num_shared_experts=num("expert_shared_count", low=0, high=65_536),
        moe_intermediate_size=num("expert_feed_forward_length"),
        first_dense_layers=num("leading_dense_block_count", low=0) or 0,
    )
