"""The Llama-style decoder (gated MLP, RMSNorm, rotary positions) that most families share, with its variants as
`Family` facts: mixture-of-experts layers, multi-head latent attention (MLA), fused projections, sandwich norms,
q/k norms and biases. A config.json whose model_type no family module claims is built with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.errors import ArchitectureError

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def moe_layer(cfg: dict[str, Any], arch: Architecture, i: int) -> bool:
    if not arch.num_experts:
        return False
    if i < arch.first_dense_layers:
        return False
    if i in (cfg.get("mlp_only_layers") or []):
        return False
    step = int(cfg.get("decoder_sparse_step") or cfg.get("moe_layer_freq") or 1)
    return (i + 1) % step == 0 if step > 1 else True


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """The tensors of a Llama-style decoder with grouped-query attention."""
    build_decoder(b, cfg, arch, mla=False)
    return []


def build_decoder(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture, *, mla: bool) -> None:
    mt, fam = arch.model_type, arch.family
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(arch.intermediate_size or 0)
    if not inter and not arch.num_experts:
        raise ArchitectureError(f"config.json (model_type {mt!r}) has no intermediate_size", "add it to the config")
    b.add("model.embed_tokens.weight", v, h)
    attn_bias = bool(cfg.get("attention_bias")) or fam.qkv_bias
    mlp_bias = bool(cfg.get("mlp_bias"))
    qk_norm = fam.qk_norm or bool(cfg.get("use_qk_norm"))
    for i, att in enumerate(arch.layers):
        p = f"model.layers.{i}."
        b.add(p + "input_layernorm.weight", h)
        b.add(p + "post_attention_layernorm.weight", h)
        if fam.sandwich_norms:
            b.add(p + "pre_feedforward_layernorm.weight", h)
            b.add(p + "post_feedforward_layernorm.weight", h)
        a = p + "self_attn."
        if mla:
            mla_attention(b, cfg, arch, a)
        else:
            q_out, kv_out = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
            if fam.fused_projections:
                b.add(a + "qkv_proj.weight", q_out + 2 * kv_out, h)
            else:
                for proj, out in (("q_proj", q_out), ("k_proj", kv_out), ("v_proj", kv_out)):
                    b.add(a + f"{proj}.weight", out, h)
                    if attn_bias:
                        b.add(a + f"{proj}.bias", out)
            b.add(a + "o_proj.weight", h, q_out)
            if bool(cfg.get("attention_bias")) and fam.o_proj_bias:
                b.add(a + "o_proj.bias", h)
            if qk_norm:
                b.add(a + "q_norm.weight", att.head_dim)
                b.add(a + "k_norm.weight", att.head_dim)
        if moe_layer(cfg, arch, i):
            moe_mlp(b, cfg, arch, p)
        else:
            m = p + "mlp."
            if fam.fused_projections:
                b.add(m + "gate_up_proj.weight", 2 * inter, h)
            else:
                b.add(m + "gate_proj.weight", inter, h)
                b.add(m + "up_proj.weight", inter, h)
            b.add(m + "down_proj.weight", h, inter)
            if mlp_bias:
                for proj, out in (("gate_proj", inter), ("up_proj", inter), ("down_proj", h)):
                    b.add(m + f"{proj}.bias", out)
    b.add("model.norm.weight", h)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, h)


def mla_attention(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture, a: str) -> None:
    h = arch.hidden_size
    heads = arch.layers[0].num_heads
    nope, rope = int(cfg.get("qk_nope_head_dim") or 128), int(cfg.get("qk_rope_head_dim") or 64)
    v_dim, kv_rank = int(cfg.get("v_head_dim") or 128), int(cfg["kv_lora_rank"])
    q_rank = cfg.get("q_lora_rank")
    if q_rank:
        b.add(a + "q_a_proj.weight", int(q_rank), h)
        b.add(a + "q_a_layernorm.weight", int(q_rank))
        b.add(a + "q_b_proj.weight", heads * (nope + rope), int(q_rank))
    else:
        b.add(a + "q_proj.weight", heads * (nope + rope), h)
    b.add(a + "kv_a_proj_with_mqa.weight", kv_rank + rope, h)
    b.add(a + "kv_a_layernorm.weight", kv_rank)
    b.add(a + "kv_b_proj.weight", heads * (nope + v_dim), kv_rank)
    b.add(a + "o_proj.weight", h, heads * v_dim)


def moe_mlp(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture, p: str) -> None:
    h, fam = arch.hidden_size, arch.family
    n = int(arch.num_experts or 0)
    inter = int(arch.moe_intermediate_size or arch.intermediate_size or 0)
    if fam.experts_layout == "block_sparse_moe":
        m = p + "block_sparse_moe."
        b.add(m + "gate.weight", n, h)
        b.add_experts(m + "experts.", n, [("w1.weight", (inter, h)), ("w2.weight", (h, inter)),
                                          ("w3.weight", (inter, h))])
        return
    m = p + "mlp."
    b.add(m + "gate.weight", n, h)
    if fam.router_bias or cfg.get("topk_method") == "noaux_tc":
        b.add(m + "gate.e_score_correction_bias", n)
    b.add_experts(m + "experts.", n, [("gate_proj.weight", (inter, h)), ("up_proj.weight", (inter, h)),
                                      ("down_proj.weight", (h, inter))])
    if fam.shared_expert_gate:
        shared = int(cfg.get("shared_expert_intermediate_size") or 0)
        if shared:
            b.add(m + "shared_expert.gate_proj.weight", shared, h)
            b.add(m + "shared_expert.up_proj.weight", shared, h)
            b.add(m + "shared_expert.down_proj.weight", h, shared)
            b.add(m + "shared_expert_gate.weight", 1, h)
    elif arch.num_shared_experts:
        shared = int(arch.num_shared_experts) * inter
        b.add(m + "shared_experts.gate_proj.weight", shared, h)
        b.add(m + "shared_experts.up_proj.weight", shared, h)
        b.add(m + "shared_experts.down_proj.weight", h, shared)


def nextn_warning(cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """DeepSeek-V3 and GLM-4.5 checkpoints hold multi-token-prediction layers transformers does not load."""
    nextn = int(cfg.get("num_nextn_predict_layers") or 0)
    if not nextn:
        return []
    return [f"{arch.model_type}: the published checkpoint also holds {nextn} multi-token-prediction layer(s) that "
            "transformers does not load; they are not counted here"]
