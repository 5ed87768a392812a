"""Diffusers components counted from their config.json alone (no weights): the FLUX transformer and the
AutoencoderKL VAE, tensor by tensor, as diffusers names them. Text encoders are transformers configs (CLIP, T5) and
go through config_json. Anything else returns None and is named in a warning by the caller."""

from __future__ import annotations

from typing import Any

from vramcalc.inventory import TensorInfo
from vramcalc.models.tensors import TensorBuilder


def _linear(t: TensorBuilder, name: str, out: int, inp: int, bias: bool = True) -> None:
    t.add(f"{name}.weight", out, inp)
    if bias:
        t.add(f"{name}.bias", out)


def _conv(t: TensorBuilder, name: str, out: int, inp: int, k: int = 3) -> None:
    t.add(f"{name}.weight", out, inp, k, k)
    t.add(f"{name}.bias", out)


def _norm(t: TensorBuilder, name: str, n: int, bias: bool = True) -> None:
    t.add(f"{name}.weight", n)
    if bias:
        t.add(f"{name}.bias", n)


def _int(cfg: dict[str, Any], key: str, default: int, high: int = 1 << 20) -> int:
    """A whole number from the config within (0, high], else the default: no config can make us build without
    limit (layer counts are bounded by MAX_LAYERS)."""
    value = cfg.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= high else default


MAX_LAYERS = 1_000


def flux_transformer(cfg: dict[str, Any], t: TensorBuilder) -> None:
    """FluxTransformer2DModel: double-stream blocks (image and text each with AdaLN, attention projections and an
    MLP), single-stream blocks (fused attention + MLP), the timestep/guidance/pooled-text embedders."""
    heads, head_dim = _int(cfg, "num_attention_heads", 24), _int(cfg, "attention_head_dim", 128)
    inner = heads * head_dim
    ratio = cfg.get("mlp_ratio", 4.0)
    ratio = ratio if isinstance(ratio, int | float) and not isinstance(ratio, bool) and 0 < ratio <= 64 else 4.0
    mlp = int(inner * ratio)
    _linear(t, "x_embedder", inner, _int(cfg, "in_channels", 64))
    _linear(t, "context_embedder", inner, _int(cfg, "joint_attention_dim", 4096))
    embedders = ["timestep_embedder"] + (["guidance_embedder"] if cfg.get("guidance_embeds", True) else [])
    for e in embedders:
        _linear(t, f"time_text_embed.{e}.linear_1", inner, 256)
        _linear(t, f"time_text_embed.{e}.linear_2", inner, inner)
    _linear(t, "time_text_embed.text_embedder.linear_1", inner, _int(cfg, "pooled_projection_dim", 768))
    _linear(t, "time_text_embed.text_embedder.linear_2", inner, inner)
    for i in range(_int(cfg, "num_layers", 19, MAX_LAYERS)):
        p = f"transformer_blocks.{i}."
        _linear(t, p + "norm1.linear", 6 * inner, inner)
        _linear(t, p + "norm1_context.linear", 6 * inner, inner)
        for proj in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"):
            _linear(t, p + f"attn.{proj}", inner, inner)
        for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"):
            _norm(t, p + f"attn.{n}", head_dim, bias=False)
        for ff in ("ff", "ff_context"):
            _linear(t, p + f"{ff}.net.0.proj", mlp, inner)
            _linear(t, p + f"{ff}.net.2", inner, mlp)
    for i in range(_int(cfg, "num_single_layers", 38, MAX_LAYERS)):
        p = f"single_transformer_blocks.{i}."
        _linear(t, p + "norm.linear", 3 * inner, inner)
        _linear(t, p + "proj_mlp", mlp, inner)
        _linear(t, p + "proj_out", inner, inner + mlp)
        for proj in ("to_q", "to_k", "to_v"):
            _linear(t, p + f"attn.{proj}", inner, inner)
        for n in ("norm_q", "norm_k"):
            _norm(t, p + f"attn.{n}", head_dim, bias=False)
    _linear(t, "norm_out.linear", 2 * inner, inner)
    patch = _int(cfg, "patch_size", 1)
    _linear(t, "proj_out", patch * patch * _int(cfg, "out_channels", 0) or _int(cfg, "in_channels", 64), inner)


def _resnet(t: TensorBuilder, p: str, cin: int, cout: int) -> None:
    _norm(t, p + "norm1", cin)
    _conv(t, p + "conv1", cout, cin)
    _norm(t, p + "norm2", cout)
    _conv(t, p + "conv2", cout, cout)
    if cin != cout:
        _conv(t, p + "conv_shortcut", cout, cin, k=1)


def _mid(t: TensorBuilder, p: str, c: int, attention: bool) -> None:
    _resnet(t, p + "resnets.0.", c, c)
    if attention:
        _norm(t, p + "attentions.0.group_norm", c)
        for proj in ("to_q", "to_k", "to_v", "to_out.0"):
            _linear(t, p + f"attentions.0.{proj}", c, c)
    _resnet(t, p + "resnets.1.", c, c)


def autoencoder_kl(cfg: dict[str, Any], t: TensorBuilder) -> None:
    """AutoencoderKL: encoder (down blocks of ResNets with a downsampling conv, a mid block with one attention),
    decoder (one more ResNet per up block, upsampling convs), the optional 1×1 quant convs."""
    channels = cfg.get("block_out_channels") or [128, 256, 512, 512]
    if not (isinstance(channels, list) and 0 < len(channels) <= 16
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 < c < 1 << 16 for c in channels)):
        channels = [128, 256, 512, 512]
    per = _int(cfg, "layers_per_block", 2, 64)
    latent, cin, cout = _int(cfg, "latent_channels", 4), _int(cfg, "in_channels", 3), _int(cfg, "out_channels", 3)
    attention = bool(cfg.get("mid_block_add_attention", True))
    _conv(t, "encoder.conv_in", channels[0], cin)
    prev = channels[0]
    for i, c in enumerate(channels):
        for j in range(per):
            _resnet(t, f"encoder.down_blocks.{i}.resnets.{j}.", prev if j == 0 else c, c)
        prev = c
        if i < len(channels) - 1:
            _conv(t, f"encoder.down_blocks.{i}.downsamplers.0.conv", c, c)
    _mid(t, "encoder.mid_block.", channels[-1], attention)
    _norm(t, "encoder.conv_norm_out", channels[-1])
    _conv(t, "encoder.conv_out", 2 * latent, channels[-1])
    _conv(t, "decoder.conv_in", channels[-1], latent)
    _mid(t, "decoder.mid_block.", channels[-1], attention)
    prev = channels[-1]
    for i, c in enumerate(reversed(channels)):
        for j in range(per + 1):
            _resnet(t, f"decoder.up_blocks.{i}.resnets.{j}.", prev if j == 0 else c, c)
        prev = c
        if i < len(channels) - 1:
            _conv(t, f"decoder.up_blocks.{i}.upsamplers.0.conv", c, c)
    _norm(t, "decoder.conv_norm_out", channels[0])
    _conv(t, "decoder.conv_out", cout, channels[0])
    if cfg.get("use_quant_conv", True):
        _conv(t, "quant_conv", 2 * latent, 2 * latent, k=1)
    if cfg.get("use_post_quant_conv", True):
        _conv(t, "post_quant_conv", latent, latent, k=1)


_BUILDERS = {"FluxTransformer2DModel": flux_transformer, "AutoencoderKL": autoencoder_kl}


def component_tensors(config: dict[str, Any], component: str) -> list[TensorInfo] | None:
    """A diffusers component's tensors from its config, or None when its class is not one vramcalc builds."""
    build = _BUILDERS.get(str(config.get("_class_name", "")))
    if build is None:
        return None
    t = TensorBuilder("BF16", component=component)  # diffusers pipelines ship their components in bf16
    build(config, t)
    return t.tensors
