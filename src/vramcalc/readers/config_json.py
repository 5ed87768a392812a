"""config.json alone → the tensors the real checkpoint would hold, named as Hugging Face names them.

Counting from the architecture (not a formula fitted to totals) means the same synthetic inventory serves the
parameter count, `inspect`'s component breakdown and per-tensor quantization predictions.
"""

from __future__ import annotations

import json
from math import prod
from pathlib import Path
from typing import Any

from vramcalc.architecture import (
    CLIP_TYPES,
    ENCODER_TYPES,
    T5_TYPES,
    Architecture,
    architecture_from_config,
    cfg_get,
    text_config,
)
from vramcalc.errors import ArchitectureError, SourceError
from vramcalc.inventory import Inventory, TensorInfo
from vramcalc.models import known_model_types

_DTYPE = {
    "float32": "F32", "float": "F32", "fp32": "F32", "float16": "F16", "half": "F16", "fp16": "F16",
    "bfloat16": "BF16", "bf16": "BF16", "float64": "F64",
}
_ELEMENT_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}


MAX_JSON_BYTES = 64 << 20  # the largest index.json published (DeepSeek-V3's) is ~9 MB; a config.json a few kB


def read_config_file(path: Path) -> dict[str, Any]:
    return read_json_object(path, "give a Hugging Face config.json")


def read_json_object(path: Path, todo: str = "check the file") -> dict[str, Any]:
    """A JSON object from a regular file of at most MAX_JSON_BYTES: SourceError for a FIFO or device, a file too
    large, bytes that are not UTF-8 JSON, nesting too deep to read, or anything but an object."""
    from vramcalc.readers.paths import require_regular

    require_regular(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}", "check the file") from e
    if len(raw) > MAX_JSON_BYTES:
        raise SourceError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MiB, more than a config or index holds",
                          todo)
    return parse_json_object(raw, str(path), todo)


def parse_json_object(raw: bytes, name: str, todo: str = "check the file") -> dict[str, Any]:
    """`raw` as a JSON object (a config.json, an index, model_index.json), or a SourceError that names `name`."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SourceError(f"{name} is not UTF-8 text (byte {e.start})", todo) from None
    except json.JSONDecodeError as e:
        raise SourceError(f"{name} is not valid JSON: {e.msg} at line {e.lineno}", todo) from None
    except ValueError as e:  # an integer of more digits than Python converts (4,300)
        raise SourceError(f"{name} is not JSON vramcalc can read ({e})", todo) from None
    except RecursionError:
        raise SourceError(f"{name} nests objects or arrays too deeply to read", todo) from None
    if not isinstance(data, dict):
        raise SourceError(f"{name} is not a JSON object", todo)
    return data


# Bounds what a config can make us build: DeepSeek-V3 with its FP8 scales has ~90k tensors.
MAX_TENSORS = 1_000_000


class TensorBuilder:
    """Collects synthetic tensors (as a checkpoint would store them) for config-derived inventories. With
    `fp8_block` (DeepSeek-V3 style checkpoints) linear weights are stored as e4m3 with an fp32 `weight_scale_inv`
    tile grid, as the published files hold them."""

    def __init__(self, dtype: str, prefix: str = "", fp8_block: tuple[int, int] | None = None,
                 fp8_skip: list[str] | None = None, component: str = "") -> None:
        self.dtype = dtype
        self.size = _ELEMENT_BYTES[dtype]
        self.prefix, self.component = prefix, component
        self.fp8_block, self.fp8_skip = fp8_block, [m for m in fp8_skip or [] if m]
        self.tensors: list[TensorInfo] = []

    def _put(self, name: str, dtype: str, shape: tuple[int, ...], nbytes: int) -> None:
        if len(self.tensors) >= MAX_TENSORS:  # layers × experts: each bounded, their product not
            from vramcalc.errors import SourceError

            raise SourceError(f"the config describes more than {MAX_TENSORS:,} tensors (at {name})",
                              "check num_hidden_layers and the expert counts; no released model comes close")
        # model_construct: values are ours and already valid; DeepSeek-V3 has ~90k tensors with its FP8 scales.
        self.tensors.append(TensorInfo.trusted(name=name, dtype=dtype, shape=shape, nbytes=nbytes,
                                                       component=self.component, file=None))

    def add_raw(self, name: str, dtype: str, shape: tuple[int, ...]) -> None:
        """A tensor in its own storage dtype (packed quantized data), one byte per element for U8/I8."""
        self._put(self.prefix + name, dtype, shape, prod(shape) * _ELEMENT_BYTES.get(dtype, 1))

    def add(self, name: str, *shape: int) -> None:
        from vramcalc.components import is_linear_weight

        numel = prod(shape)
        name = self.prefix + name
        if self.fp8_block and is_linear_weight(name, shape) and not any(m in name for m in self.fp8_skip):
            scale = (-(-shape[-2] // self.fp8_block[0]), -(-shape[-1] // self.fp8_block[1]))
            self._put(name, "F8_E4M3", tuple(shape), numel)
            self._put(name + "_scale_inv", "F32", scale, 4 * scale[0] * scale[1])
            return
        self._put(name, self.dtype, tuple(shape), numel * self.size)


def _dim(config: dict[str, Any], key: str, default: int) -> int:
    """A width check_size_fields does not know: a positive whole number up to 2^20, else an ArchitectureError."""
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1 << 20:
        raise ArchitectureError(f"config.json field {key!r} is {str(value)[:40]}, not a positive whole number in "
                                "range", "fix the config")
    return value


def _names(value: Any) -> list[str]:
    """A list of module names from a config, ignoring what is not one."""
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _dtype_of(config: dict[str, Any]) -> str:
    raw = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16").lower().replace("torch.", "")
    return _DTYPE.get(raw, "BF16")


def inventory_from_config(config: dict[str, Any], source: str) -> Inventory:
    """Synthetic, exact tensor list of the model a config.json describes (no weights needed)."""
    arch = architecture_from_config(config)
    cfg = text_config(config)
    qcfg = cfg.get("quantization_config") or {}
    fp8 = str(qcfg.get("quant_method", "")).lower() == "fp8"
    block = qcfg.get("weight_block_size") or [128, 128]
    if fp8 and not (isinstance(block, list) and len(block) == 2
                    and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in block)):
        raise ArchitectureError(f"config.json quantization_config weight_block_size is {block!r}, not two positive "
                                "whole numbers", "fix the config (DeepSeek-V3 uses [128, 128])")
    b = TensorBuilder(_dtype_of(cfg), fp8_block=(int(block[0]), int(block[1])) if fp8 else None,
                 fp8_skip=_names(qcfg.get("modules_to_not_convert")))
    model_type = arch.model_type
    warnings: list[str] = []
    if arch.family.builder is not None:  # a family module that builds its own tensors (vramcalc.models)
        warnings += arch.family.builder(b, cfg, arch)
    elif model_type == "gpt2":
        _gpt2(b, cfg, arch)
    elif model_type in ENCODER_TYPES:
        warnings += _bert(b, cfg, arch)
    elif model_type == "gpt_oss":
        warnings += _gpt_oss(b, cfg, arch)
    elif model_type == "llama4_text":
        _llama4(b, cfg, arch)
    elif model_type in T5_TYPES:
        warnings += _t5(b, cfg, arch)
    elif model_type in CLIP_TYPES:
        _clip_text(b, cfg, arch)
    elif model_type in _UNGATED_BUILDERS:
        _UNGATED_BUILDERS[model_type](b, cfg, arch)
    elif model_type in ("deepseek_v2", "deepseek_v3", "kimi_k2", "glm4_moe"):
        _decoder(b, cfg, arch, mla=model_type != "glm4_moe")
        nextn = int(cfg.get("num_nextn_predict_layers") or 0)
        if nextn:
            warnings.append(
                f"{model_type}: the published checkpoint also holds {nextn} multi-token-prediction layer(s) that "
                "transformers does not load; they are not counted here"
            )
    else:
        if model_type not in _KNOWN and model_type not in known_model_types():
            warnings.append(
                f"model_type {model_type!r} is not one vramcalc knows by name; counted as a Llama-style decoder "
                "from its config fields — check with `vramcalc inspect` on the real checkpoint"
            )
        _decoder(b, cfg, arch, mla=False)
    if isinstance(config.get("vision_config"), dict):
        if config.get("model_type") == "clip":
            _clip_vision(b, config, cfg)
        else:
            warnings += _vision(b, config, arch)
    elif model_type == "clip_text_model" and "WithProjection" in " ".join(arch.architectures):
        b.add("text_projection.weight", _dim(cfg, "projection_dim", arch.hidden_size), arch.hidden_size)
    tensors = b.tensors
    if fp8:
        warnings.append("config.json declares FP8 weights (quantization_config): linear weights counted as "
                        "F8_E4M3 with their fp32 block scales, the rest in torch_dtype")
    inv = Inventory(source=source, kind="config", tensors=tensors, config=config, warnings=warnings)
    if qcfg:  # packed storage built above (FP8 blocks, MXFP4 experts): true count beside the stored one
        from vramcalc.readers.packed import detect_packed

        quant, true_params = detect_packed(tensors, cfg)
        inv = inv.model_copy(update={"quantization": quant, "true_params": true_params})
    return inv


_KNOWN = {
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3",
    "gemma3_text", "phi3", "gpt2", "deepseek_v2", "deepseek_v3", "granite", "olmo2", "cohere", "gpt_oss",
    "llama4_text", "glm4_moe", "gpt_neox", "phi", "falcon", "opt", "bloom", *ENCODER_TYPES, *T5_TYPES,
    *CLIP_TYPES,
}


def _gpt2(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> None:
    h, v = arch.hidden_size, arch.vocab_size
    inner = int(cfg_get(cfg, "intermediate_size") or 4 * h)
    positions = int(cfg_get(cfg, "max_position_embeddings") or 1024)
    b.add("transformer.wte.weight", v, h)
    b.add("transformer.wpe.weight", positions, h)
    for i in range(arch.num_layers):
        p = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            b.add(p + f"{ln}.weight", h)
            b.add(p + f"{ln}.bias", h)
        # GPT-2 uses Conv1D: weights are stored [in, out].
        b.add(p + "attn.c_attn.weight", h, 3 * h)
        b.add(p + "attn.c_attn.bias", 3 * h)
        b.add(p + "attn.c_proj.weight", h, h)
        b.add(p + "attn.c_proj.bias", h)
        b.add(p + "mlp.c_fc.weight", h, inner)
        b.add(p + "mlp.c_fc.bias", inner)
        b.add(p + "mlp.c_proj.weight", inner, h)
        b.add(p + "mlp.c_proj.bias", h)
    b.add("transformer.ln_f.weight", h)
    b.add("transformer.ln_f.bias", h)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, h)


def _bert(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """BERT-family encoders (BertModel, RobertaModel, XLMRobertaModel, ElectraModel) with the head the
    `architectures` entry names: a pooler for *Model (transformers' add_pooling_layer default), a classifier for
    *ForSequenceClassification (RoBERTa-style: dense + out_proj, no pooler), the tied MLM head for *ForMaskedLM."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(arch.intermediate_size or 4 * h)
    mt = arch.model_type
    roberta = mt in ("roberta", "xlm-roberta", "camembert")
    archs = " ".join(arch.architectures)
    # *ForX checkpoints keep the encoder under the model's name ("bert.", "roberta."); a bare *Model has no prefix
    prefix = "" if not archs or archs.endswith("Model") or "Model " in archs else f"{mt.replace('-', '_')}."
    if mt == "xlm-roberta" and prefix:
        prefix = "roberta."
    emb = int(cfg.get("embedding_size") or h)  # ELECTRA-small projects 128-wide embeddings up to hidden
    b.add(prefix + "embeddings.word_embeddings.weight", v, emb)
    b.add(prefix + "embeddings.position_embeddings.weight", int(cfg_get(cfg, "max_position_embeddings") or 512), emb)
    types = int(cfg.get("type_vocab_size") or 2)
    if types:
        b.add(prefix + "embeddings.token_type_embeddings.weight", types, emb)
    b.add(prefix + "embeddings.LayerNorm.weight", emb)
    b.add(prefix + "embeddings.LayerNorm.bias", emb)
    if emb != h:
        b.add(prefix + "embeddings_project.weight", h, emb)
        b.add(prefix + "embeddings_project.bias", h)
    for i in range(arch.num_layers):
        p = f"{prefix}encoder.layer.{i}."
        for proj in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            b.add(p + proj + ".weight", h, h)
            b.add(p + proj + ".bias", h)
        b.add(p + "intermediate.dense.weight", inter, h)
        b.add(p + "intermediate.dense.bias", inter)
        b.add(p + "output.dense.weight", h, inter)
        b.add(p + "output.dense.bias", h)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            b.add(p + ln + ".weight", h)
            b.add(p + ln + ".bias", h)
    id2label = cfg.get("id2label")  # a mapping of class names; anything else is not one (num_labels then)
    labels = (len(id2label) if isinstance(id2label, dict) else 0) or int(cfg.get("num_labels") or 2)
    if "ForSequenceClassification" in archs:
        if roberta:
            b.add("classifier.dense.weight", h, h)
            b.add("classifier.dense.bias", h)
            b.add("classifier.out_proj.weight", labels, h)
            b.add("classifier.out_proj.bias", labels)
        else:
            b.add(prefix + "pooler.dense.weight", h, h)
            b.add(prefix + "pooler.dense.bias", h)
            b.add("classifier.weight", labels, h)
            b.add("classifier.bias", labels)
    elif "ForMaskedLM" in archs:
        head = "lm_head." if roberta else "cls.predictions.transform."
        b.add(head + "dense.weight", h, h)
        b.add(head + "dense.bias", h)
        b.add(head + ("layer_norm" if roberta else "LayerNorm") + ".weight", h)
        b.add(head + ("layer_norm" if roberta else "LayerNorm") + ".bias", h)
        b.add(("lm_head." if roberta else "cls.predictions.") + "bias", v)  # the decoder is tied to the embeddings
    elif mt != "electra":
        b.add(prefix + "pooler.dense.weight", h, h)
        b.add(prefix + "pooler.dense.bias", h)
    return ["encoder-only model: one forward pass over the input, no KV cache; context = tokens per input "
            f"(at most {arch.max_context or 512})"]


# Vision towers in the ViT layout transformers gives SigLIP and CLIP; the projector per multimodal model_type.
_VIT_TYPES = {"siglip_vision_model": "siglip", "siglip2_vision_model": "siglip", "clip_vision_model": "clip"}


def _vit_tower(b: TensorBuilder, p: str, vc: dict[str, Any], kind: str) -> int:
    """A SigLIP or CLIP vision tower under prefix `p`; returns its hidden size. transformers' defaults where the
    config is silent (patch 16 for SigLIP, 32 for CLIP)."""
    c = int(vc.get("hidden_size") or 768)
    patch = int(vc.get("patch_size") or (16 if kind == "siglip" else 32))
    patches = (int(vc.get("image_size") or 224) // patch) ** 2
    b.add(p + "embeddings.patch_embedding.weight", c, int(vc.get("num_channels") or 3), patch, patch)
    if kind == "siglip":
        b.add(p + "embeddings.patch_embedding.bias", c)
        b.add(p + "embeddings.position_embedding.weight", patches, c)
    else:  # CLIP: a class token, no patch bias, and a LayerNorm before the encoder
        b.add(p + "embeddings.class_embedding", c)
        b.add(p + "embeddings.position_embedding.weight", patches + 1, c)
        b.add(p + "pre_layrnorm.weight", c)
        b.add(p + "pre_layrnorm.bias", c)
    _vit_layers(b, p, c, int(vc.get("intermediate_size") or 4 * c), int(vc.get("num_hidden_layers") or 12))
    b.add(p + "post_layernorm.weight", c)
    b.add(p + "post_layernorm.bias", c)
    return c


def _vision(b: TensorBuilder, config: dict[str, Any], text: Architecture) -> list[str]:
    """The image encoder and projector of a multimodal config (Gemma 3, PaliGemma, LLaVA): ViT layers from
    `vision_config`, the projector from the outer model_type. Others are named in a warning, not guessed."""
    vc = config["vision_config"]
    outer = str(config.get("model_type", ""))
    kind = _VIT_TYPES.get(str(vc.get("model_type", "")))
    if kind is None or outer not in ("gemma3", "paligemma", "llava", "llava_next"):
        return [f"{outer or 'this model'}: the vision encoder ({vc.get('model_type', 'unknown')}) is not counted "
                "from config.json — inspect the checkpoint for its exact size"]
    c = _vit_tower(b, "vision_tower.vision_model.", vc, kind)
    t = text.hidden_size
    if outer == "gemma3":
        b.add("multi_modal_projector.mm_input_projection_weight", c, t)
        b.add("multi_modal_projector.mm_soft_emb_norm.weight", c)
    elif outer == "paligemma":
        b.add("multi_modal_projector.linear.weight", t, c)
        b.add("multi_modal_projector.linear.bias", t)
    else:  # llava, llava_next: two linear layers with GELU between
        b.add("multi_modal_projector.linear_1.weight", t, c)
        b.add("multi_modal_projector.linear_1.bias", t)
        b.add("multi_modal_projector.linear_2.weight", t, t)
        b.add("multi_modal_projector.linear_2.bias", t)
        if outer == "llava_next":
            b.add("image_newline", t)
    return []


def _gpt_oss(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """OpenAI gpt-oss: biased attention with a learned sink per head, a biased router, and fused expert stacks
    (gate_up [E, H, 2I], down [E, I, H], each with a bias). The published checkpoints store the experts in MXFP4:
    uint8 blocks of 32 FP4 values (16 bytes) and one uint8 E8M0 scale per block; everything else in bf16."""
    h, v, inter = arch.hidden_size, arch.vocab_size, int(arch.intermediate_size or arch.hidden_size)
    experts = int(arch.num_experts or 1)
    mxfp4 = str((cfg.get("quantization_config") or {}).get("quant_method", "")).lower() == "mxfp4"
    b.add("model.embed_tokens.weight", v, h)
    for i, att in enumerate(arch.layers):
        p = f"model.layers.{i}."
        b.add(p + "input_layernorm.weight", h)
        b.add(p + "post_attention_layernorm.weight", h)
        a = p + "self_attn."
        q_out, kv_out = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
        for proj, rows, cols in (("q_proj", q_out, h), ("k_proj", kv_out, h), ("v_proj", kv_out, h),
                                 ("o_proj", h, q_out)):
            b.add(a + f"{proj}.weight", rows, cols)
            b.add(a + f"{proj}.bias", rows)
        b.add(a + "sinks", att.num_heads)
        b.add(p + "mlp.router.weight", experts, h)
        b.add(p + "mlp.router.bias", experts)
        e = p + "mlp.experts."
        for name, rows, cols in (("gate_up_proj", 2 * inter, h), ("down_proj", h, inter)):
            if mxfp4:  # [E, out, in/32, 16] blocks + [E, out, in/32] scales, as the checkpoint stores them
                b.add_raw(e + f"{name}_blocks", "U8", (experts, rows, cols // 32, 16))
                b.add_raw(e + f"{name}_scales", "U8", (experts, rows, cols // 32))
            else:
                b.add(e + name, experts, cols, rows)
            b.add(e + f"{name}_bias", experts, rows)
    b.add("model.norm.weight", h)
    b.add("lm_head.weight", v, h)
    return ["gpt-oss: experts counted as the checkpoint stores them (MXFP4 blocks and scales)"] if mxfp4 else []


def _llama4(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> None:
    """Llama 4 text: every interleave_moe_layer_step-th layer is MoE (a router, fused expert stacks gate_up
    [E, H, 2I] and down [E, I, H], and one shared expert of width I); the others are dense MLPs of
    intermediate_size_mlp. QK norm is a weightless L2 norm."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(cfg.get("intermediate_size") or 8192)
    dense = int(cfg.get("intermediate_size_mlp") or 2 * inter)
    experts, step = int(arch.num_experts or 1), int(cfg.get("interleave_moe_layer_step") or 1)
    p0 = "language_model.model."
    b.add(p0 + "embed_tokens.weight", v, h)
    for i, att in enumerate(arch.layers):
        p = f"{p0}layers.{i}."
        b.add(p + "input_layernorm.weight", h)
        b.add(p + "post_attention_layernorm.weight", h)
        q_out, kv_out = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
        for proj, rows, cols in (("q_proj", q_out, h), ("k_proj", kv_out, h), ("v_proj", kv_out, h),
                                 ("o_proj", h, q_out)):
            b.add(p + f"self_attn.{proj}.weight", rows, cols)
        f = p + "feed_forward."
        if (i + 1) % step == 0:
            b.add(f + "router.weight", experts, h)
            b.add(f + "experts.gate_up_proj", experts, h, 2 * inter)
            b.add(f + "experts.down_proj", experts, inter, h)
            width, f = inter, f + "shared_expert."
        else:
            width = dense
        b.add(f + "gate_proj.weight", width, h)
        b.add(f + "up_proj.weight", width, h)
        b.add(f + "down_proj.weight", h, width)
    b.add(p0 + "norm.weight", h)
    if not arch.tie_word_embeddings:
        b.add("language_model.lm_head.weight", v, h)


def _ungated_layer(b: TensorBuilder, p: str, names: dict[str, str], h: int, qkv: int, inter: int, bias: bool,
                   norms: tuple[str, ...]) -> None:
    """One decoder block with a plain (ungated) MLP: LayerNorms with biases, fused or split QKV."""
    for ln in norms:
        b.add(p + f"{ln}.weight", h)
        b.add(p + f"{ln}.bias", h)
    for key, rows, cols in (("qkv", qkv, h), ("out", h, h), ("up", inter, h), ("down", h, inter)):
        if key == "qkv" and "q" in names:  # split q, k, v (Phi)
            for proj, out in zip(("q", "k", "v"), _split_qkv(qkv, h), strict=True):
                b.add(p + names[proj] + ".weight", out, h)
                if bias:
                    b.add(p + names[proj] + ".bias", out)
            continue
        b.add(p + names[key] + ".weight", rows, cols)
        if bias:
            b.add(p + names[key] + ".bias", rows)


def _split_qkv(qkv: int, h: int) -> tuple[int, int, int]:
    kv = (qkv - h) // 2
    return h, kv, kv


def _gpt_neox(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> None:
    """GPT-NeoX / Pythia: fused QKV, dense MLP, biases everywhere, an untied embed_out."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(arch.intermediate_size or 4 * h)
    names = {"qkv": "attention.query_key_value", "out": "attention.dense", "up": "mlp.dense_h_to_4h",
             "down": "mlp.dense_4h_to_h"}
    b.add("gpt_neox.embed_in.weight", v, h)
    for i in range(arch.num_layers):
        _ungated_layer(b, f"gpt_neox.layers.{i}.", names, h, 3 * h, inter, True,
                       ("input_layernorm", "post_attention_layernorm"))
    b.add("gpt_neox.final_layer_norm.weight", h)
    b.add("gpt_neox.final_layer_norm.bias", h)
    if not cfg.get("tie_word_embeddings", False):
        b.add("embed_out.weight", v, h)


def _phi(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> None:
    """Phi-1/1.5/2: parallel attention and MLP behind one LayerNorm, split QKV, biases, a biased LM head."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(arch.intermediate_size or 4 * h)
    att = arch.layers[0]
    qkv = (att.num_heads + 2 * att.num_kv_heads) * att.head_dim
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "out": "self_attn.dense",
             "up": "mlp.fc1", "down": "mlp.fc2"}
    b.add("model.embed_tokens.weight", v, h)
    for i in range(arch.num_layers):
        _ungated_layer(b, f"model.layers.{i}.", names, h, qkv, inter, True, ("input_layernorm",))
    b.add("model.final_layernorm.weight", h)
    b.add("model.final_layernorm.bias", h)
    b.add("lm_head.weight", v, h)
    b.add("lm_head.bias", v)


def _falcon(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> None:
    """Falcon: fused QKV with grouped or one shared KV head, parallel attention (one LayerNorm for 7B; ln_attn and
    ln_mlp with the new decoder architecture), no linear biases by default, tied embeddings."""
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(cfg.get("ffn_hidden_size") or arch.intermediate_size or 4 * h)
    att = arch.layers[0]
    qkv = (att.num_heads + 2 * att.num_kv_heads) * att.head_dim
    names = {"qkv": "self_attention.query_key_value", "out": "self_attention.dense", "up": "mlp.dense_h_to_4h",
             "down": "mlp.dense_4h_to_h"}
    norms = ("ln_attn", "ln_mlp") if cfg.get("new_decoder_architecture") else ("input_layernorm",)
    b.add("transformer.word_embeddings.weight", v, h)
    for i in range(arch.num_layers):
        _ungated_layer(b, f"transformer.h.{i}.", names, h, qkv, inter, bool(cfg.get("bias")), norms)
    b.add("transformer.ln_f.weight", h)
    b.add("transformer.ln_f.bias", h)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, h)


def _opt(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> None:
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
        _ungated_layer(b, f"model.decoder.layers.{i}.", names, h, 3 * h, inter, True,
                       ("self_attn_layer_norm", "final_layer_norm"))
    if cfg.get("do_layer_norm_before", True) and not cfg.get("_remove_final_layer_norm", False):
        b.add("model.decoder.final_layer_norm.weight", h)
        b.add("model.decoder.final_layer_norm.bias", h)


def _bloom(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> None:
    """BLOOM: ALiBi (no position table), a LayerNorm right after the embeddings, fused QKV, tied embeddings."""
    h, v = arch.hidden_size, arch.vocab_size
    names = {"qkv": "self_attention.query_key_value", "out": "self_attention.dense", "up": "mlp.dense_h_to_4h",
             "down": "mlp.dense_4h_to_h"}
    b.add("transformer.word_embeddings.weight", v, h)
    b.add("transformer.word_embeddings_layernorm.weight", h)
    b.add("transformer.word_embeddings_layernorm.bias", h)
    for i in range(arch.num_layers):
        _ungated_layer(b, f"transformer.h.{i}.", names, h, 3 * h, 4 * h, True,
                       ("input_layernorm", "post_attention_layernorm"))
    b.add("transformer.ln_f.weight", h)
    b.add("transformer.ln_f.bias", h)


def _vit_layers(b: TensorBuilder, p: str, c: int, inter: int, layers: int) -> None:
    """ViT/CLIP encoder blocks: biased q/k/v/out projections, two LayerNorms, fc1/fc2."""
    for i in range(layers):
        layer = f"{p}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            b.add(layer + f"self_attn.{proj}.weight", c, c)
            b.add(layer + f"self_attn.{proj}.bias", c)
        for ln in ("layer_norm1", "layer_norm2"):
            b.add(layer + f"{ln}.weight", c)
            b.add(layer + f"{ln}.bias", c)
        b.add(layer + "mlp.fc1.weight", inter, c)
        b.add(layer + "mlp.fc1.bias", inter)
        b.add(layer + "mlp.fc2.weight", c, inter)
        b.add(layer + "mlp.fc2.bias", c)


def _clip_text(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> None:
    """CLIP's text tower (CLIPTextModel; the text encoder of Stable Diffusion and FLUX): token and position
    embeddings, pre-LN ViT-style blocks, a final LayerNorm."""
    h = arch.hidden_size
    p = "text_model."
    b.add(p + "embeddings.token_embedding.weight", arch.vocab_size, h)
    b.add(p + "embeddings.position_embedding.weight", int(arch.max_context or 77), h)
    _vit_layers(b, p, h, int(arch.intermediate_size or 4 * h), arch.num_layers)
    b.add(p + "final_layer_norm.weight", h)
    b.add(p + "final_layer_norm.bias", h)


def _clip_vision(b: TensorBuilder, config: dict[str, Any], text: dict[str, Any]) -> None:
    """CLIPModel's vision tower and the two projections into the shared space (+ the logit scale)."""
    c = _vit_tower(b, "vision_model.", config["vision_config"], "clip")
    proj = _dim(config, "projection_dim", 512)
    b.add("visual_projection.weight", proj, c)
    b.add("text_projection.weight", proj, int(text.get("hidden_size") or 512))
    b.add("logit_scale")


def _t5(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    """T5 / mT5 / UMT5: a shared embedding, encoder blocks (self-attention + feed-forward), decoder blocks (+ cross-
    attention) unless the config is a T5EncoderModel, RMS LayerNorms without bias, relative position buckets in
    the first block of each stack (in every block for UMT5), a gated feed-forward for v1.1 / Flan (wi_0, wi_1)."""
    d, v = arch.hidden_size, arch.vocab_size
    heads, d_kv = arch.layers[0].num_heads, arch.layers[0].head_dim
    inner, d_ff = heads * d_kv, int(arch.intermediate_size or 4 * d)
    gated = str(cfg.get("feed_forward_proj", "relu")).startswith("gated")
    buckets = int(cfg.get("relative_attention_num_buckets") or 32)
    every_block = arch.model_type == "umt5"
    encoder_only = arch.is_encoder
    b.add("shared.weight", v, d)

    def stack(name: str, layers: int, cross: bool) -> None:
        for i in range(layers):
            p = f"{name}.block.{i}.layer."
            attns = ["SelfAttention"] + (["EncDecAttention"] if cross else [])
            for j, attn in enumerate(attns):
                for proj in ("q", "k", "v"):
                    b.add(f"{p}{j}.{attn}.{proj}.weight", inner, d)
                b.add(f"{p}{j}.{attn}.o.weight", d, inner)
                if attn == "SelfAttention" and (i == 0 or every_block):
                    b.add(f"{p}{j}.{attn}.relative_attention_bias.weight", buckets, heads)
                b.add(f"{p}{j}.layer_norm.weight", d)
            f = f"{p}{len(attns)}."
            for wi in (("wi_0", "wi_1") if gated else ("wi",)):
                b.add(f"{f}DenseReluDense.{wi}.weight", d_ff, d)
            b.add(f"{f}DenseReluDense.wo.weight", d, d_ff)
            b.add(f"{f}layer_norm.weight", d)
        b.add(f"{name}.final_layer_norm.weight", d)

    stack("encoder", int(cfg_get(cfg, "num_hidden_layers")), cross=False)
    if encoder_only:
        return ["T5 encoder only (T5EncoderModel): one forward pass, no KV cache"]
    stack("decoder", int(cfg.get("num_decoder_layers") or cfg_get(cfg, "num_hidden_layers")), cross=True)
    if not arch.tie_word_embeddings:
        b.add("lm_head.weight", v, d)
    return ["T5 encoder-decoder: the KV cache counts the decoder's self-attention; the cross-attention keys and "
            "values of the encoded input (one set per decoder layer) are not counted"]


_UNGATED_BUILDERS = {"gpt_neox": _gpt_neox, "phi": _phi, "falcon": _falcon, "opt": _opt, "bloom": _bloom}


def _moe_layer(cfg: dict[str, Any], arch: Architecture, i: int) -> bool:
    if not arch.num_experts:
        return False
    if i < arch.first_dense_layers:
        return False
    if i in (cfg.get("mlp_only_layers") or []):
        return False
    step = int(cfg.get("decoder_sparse_step") or cfg.get("moe_layer_freq") or 1)
    return (i + 1) % step == 0 if step > 1 else True


# attention_bias puts a bias on q, k and v only (Qwen2 always has those; GLM-4.5's o_proj has none)
_NO_O_PROJ_BIAS = frozenset({"qwen2", "qwen2_moe", "glm4_moe"})


def _decoder(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture, *, mla: bool) -> None:
    mt = arch.model_type
    h, v = arch.hidden_size, arch.vocab_size
    inter = int(arch.intermediate_size or 0)
    if not inter and not arch.num_experts:
        raise ArchitectureError(f"config.json (model_type {mt!r}) has no intermediate_size", "add it to the config")
    gemma = mt.startswith("gemma")
    b.add("model.embed_tokens.weight", v, h)
    attn_bias = bool(cfg.get("attention_bias")) or mt in ("qwen2", "qwen2_moe")
    mlp_bias = bool(cfg.get("mlp_bias"))
    qk_norm = mt in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2") or bool(cfg.get("use_qk_norm"))
    for i, att in enumerate(arch.layers):
        p = f"model.layers.{i}."
        b.add(p + "input_layernorm.weight", h)
        b.add(p + "post_attention_layernorm.weight", h)
        if mt in ("gemma2", "gemma3", "gemma3_text"):
            b.add(p + "pre_feedforward_layernorm.weight", h)
            b.add(p + "post_feedforward_layernorm.weight", h)
        a = p + "self_attn."
        if mla:
            _mla_attention(b, cfg, arch, a)
        else:
            q_out, kv_out = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
            if mt == "phi3":
                b.add(a + "qkv_proj.weight", q_out + 2 * kv_out, h)
            else:
                for proj, out in (("q_proj", q_out), ("k_proj", kv_out), ("v_proj", kv_out)):
                    b.add(a + f"{proj}.weight", out, h)
                    if attn_bias:
                        b.add(a + f"{proj}.bias", out)
            b.add(a + "o_proj.weight", h, q_out)
            if bool(cfg.get("attention_bias")) and mt not in _NO_O_PROJ_BIAS:
                b.add(a + "o_proj.bias", h)
            if qk_norm:
                b.add(a + "q_norm.weight", att.head_dim)
                b.add(a + "k_norm.weight", att.head_dim)
        if _moe_layer(cfg, arch, i):
            _moe_mlp(b, cfg, arch, p)
        else:
            m = p + "mlp."
            if mt == "phi3":
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
    del gemma


def _mla_attention(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture, a: str) -> None:
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


def _moe_mlp(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture, p: str) -> None:
    h, mt = arch.hidden_size, arch.model_type
    n = int(arch.num_experts or 0)
    inter = int(arch.moe_intermediate_size or arch.intermediate_size or 0)
    if mt == "mixtral":
        m = p + "block_sparse_moe."
        b.add(m + "gate.weight", n, h)
        for e in range(n):
            b.add(m + f"experts.{e}.w1.weight", inter, h)
            b.add(m + f"experts.{e}.w2.weight", h, inter)
            b.add(m + f"experts.{e}.w3.weight", inter, h)
        return
    m = p + "mlp."
    b.add(m + "gate.weight", n, h)
    if mt in ("deepseek_v3", "glm4_moe") or cfg.get("topk_method") == "noaux_tc":
        b.add(m + "gate.e_score_correction_bias", n)
    for e in range(n):
        b.add(m + f"experts.{e}.gate_proj.weight", inter, h)
        b.add(m + f"experts.{e}.up_proj.weight", inter, h)
        b.add(m + f"experts.{e}.down_proj.weight", h, inter)
    if mt == "qwen2_moe":
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


def active_params(arch: Architecture, inventory: Inventory) -> int:
    """Parameters used per token: everything but the routed experts, plus experts_per_token of them."""
    if not arch.num_experts or not arch.experts_per_token:
        return inventory.total_params
    from vramcalc.readers.packed import param_count

    routed = sum(param_count(t, inventory.quantization) for t in inventory.tensors
                 if ".experts." in t.name or "_exps." in t.name)
    return inventory.total_params - routed + routed * int(arch.experts_per_token) // int(arch.num_experts)
