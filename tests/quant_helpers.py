"""Build Hugging Face-named inventories from the few config.json fields that fix every tensor shape.

Shapes follow the transformers modeling code of each family (Llama/Mistral/Qwen2/Qwen3/Gemma 2/3, and
Mixtral/Qwen-MoE style experts): [out, in] per Linear, 1-D norms and biases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vramcalc.inventory import Inventory, TensorInfo

DATA = Path(__file__).parent / "data"
_BYTES = {"BF16": 2, "F16": 2, "F32": 4}


def published() -> dict[str, Any]:
    return json.loads((DATA / "published_sizes.json").read_text())


def hf_inventory(cfg: dict[str, Any], dtype: str = "BF16", source: str = "config") -> Inventory:
    c = {**cfg, **cfg.get("text_config", {})}
    mt = c["model_type"]
    h, inter, n_layer = c["hidden_size"], c.get("intermediate_size"), c["num_hidden_layers"]
    n_head = c["num_attention_heads"]
    n_kv = c.get("num_key_value_heads", n_head)
    hd = c.get("head_dim") or h // n_head
    vocab = c["vocab_size"]
    tensors: list[TensorInfo] = []

    def add(name: str, *shape: int) -> None:
        n = 1
        for s in shape:
            n *= s
        tensors.append(TensorInfo(name=name, dtype=dtype, shape=tuple(shape), nbytes=n * _BYTES[dtype]))

    add("model.embed_tokens.weight", vocab, h)
    bias = mt == "qwen2" or c.get("attention_bias", False)
    n_exp = c.get("num_local_experts") or c.get("num_experts") or 0
    for i in range(n_layer):
        p = f"model.layers.{i}."
        add(p + "self_attn.q_proj.weight", n_head * hd, h)
        add(p + "self_attn.k_proj.weight", n_kv * hd, h)
        add(p + "self_attn.v_proj.weight", n_kv * hd, h)
        add(p + "self_attn.o_proj.weight", h, n_head * hd)
        if bias:
            add(p + "self_attn.q_proj.bias", n_head * hd)
            add(p + "self_attn.k_proj.bias", n_kv * hd)
            add(p + "self_attn.v_proj.bias", n_kv * hd)
        if mt in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text"):
            add(p + "self_attn.q_norm.weight", hd)
            add(p + "self_attn.k_norm.weight", hd)
        add(p + "input_layernorm.weight", h)
        add(p + "post_attention_layernorm.weight", h)
        if mt.startswith("gemma") and mt != "gemma":
            add(p + "pre_feedforward_layernorm.weight", h)
            add(p + "post_feedforward_layernorm.weight", h)
        if n_exp:
            mi = c.get("moe_intermediate_size") or inter
            add(p + "mlp.gate.weight", n_exp, h)
            for e in range(n_exp):
                add(p + f"mlp.experts.{e}.gate_proj.weight", mi, h)
                add(p + f"mlp.experts.{e}.up_proj.weight", mi, h)
                add(p + f"mlp.experts.{e}.down_proj.weight", h, mi)
        else:
            add(p + "mlp.gate_proj.weight", inter, h)
            add(p + "mlp.up_proj.weight", inter, h)
            add(p + "mlp.down_proj.weight", h, inter)
    add("model.norm.weight", h)
    if not c.get("tie_word_embeddings", False):
        add("lm_head.weight", vocab, h)
    return Inventory(source=source, kind="config", tensors=tensors, config=cfg)


# ggml.c type_traits: (ggml type, block, bytes per block). Used to build a registry independent of the
# shipped formats.toml, so the llama.cpp rules are tested for every file type.
GGML_TYPES = [
    ("Q4_0", 32, 18), ("Q4_1", 32, 20), ("Q5_0", 32, 22), ("Q5_1", 32, 24), ("Q8_0", 32, 34),
    ("Q2_K", 256, 84), ("Q3_K", 256, 110), ("Q4_K", 256, 144), ("Q5_K", 256, 176), ("Q6_K", 256, 210),
    ("IQ2_XXS", 256, 66), ("IQ2_XS", 256, 74), ("IQ3_XXS", 256, 98), ("IQ1_S", 256, 50), ("IQ4_NL", 32, 18),
    ("IQ3_S", 256, 110), ("IQ2_S", 256, 82), ("IQ4_XS", 256, 136), ("IQ1_M", 256, 56), ("TQ1_0", 256, 54),
    ("TQ2_0", 256, 66), ("MXFP4", 32, 17),
]
FILE_TYPES = {
    "Q2_K_S": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "IQ2_M": "IQ2_S", "IQ3_XS": "IQ3_S", "IQ3_M": "IQ3_S", "MXFP4_MOE": "MXFP4",
}


# llama-quant.cpp tensor_type_fallback, tensor_requires_imatrix and llama_ftype_get_default_type; which types
# llama-quantize takes as file types (tools/quantize/quantize.cpp QUANT_OPTIONS, a K type standing for its _M mix)
FALLBACK = {
    **dict.fromkeys(("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS"), "IQ4_NL"),
    **dict.fromkeys(("Q2_K", "Q3_K", "TQ1_0", "TQ2_0"), "Q4_0"),
    "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
}
NEEDS_IMATRIX = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "Q2_K_S"}
FILE_TYPE_OF = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}
NOT_FILE_TYPES = {"MXFP4"}  # only within MXFP4_MOE
DEFAULT_OF = {"IQ2_S": "IQ2_XS"}


def gguf_test_registry() -> Any:
    from vramcalc.registry import FormatSpec, Registry, load_registry

    shipped = load_registry()
    specs = [shipped.get(n) for n in ("fp32", "fp16", "bf16")]
    specs += [FormatSpec(name=n, family="gguf_type", payload_bits=b * 8 / blk, block_size=blk, quantizes="linear",
                         keep_dtype="F32", fallback=FALLBACK.get(n), needs_imatrix=n in NEEDS_IMATRIX,
                         file_type=FILE_TYPE_OF.get(n), file_type_default=DEFAULT_OF.get(n),
                         llama_ftype=None if n in FILE_TYPE_OF or n in NOT_FILE_TYPES else 1000 + i)
              for i, (n, blk, b) in enumerate(GGML_TYPES)]
    specs += [FormatSpec(name=n, family="gguf_mix", base_type=t, quantizes="linear", keep_dtype="F32",
                         needs_imatrix=n in NEEDS_IMATRIX) for n, t in FILE_TYPES.items()]
    return Registry(specs, [], ["test"])
