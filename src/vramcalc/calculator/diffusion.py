"""Diffusion pipelines: weights per component; peak with every component resident vs with model CPU offload.

A pipeline runs its stages one after another (text encoders, then the denoiser for every step, then the VAE
decode), so activations of different stages never coexist: all resident = every component's weights + the largest
stage's activations; model CPU offload (diffusers `enable_model_cpu_offload`) keeps one component on the GPU at a
time, so its peak is the largest (component weights + that stage's activations).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from vramcalc import heuristics as H

_DENOISERS = ("transformer", "unet", "prior", "decoder")
# Inventory.metadata key under which a pipeline reader records the denoiser's hidden size (from its config.json)
DENOISER_HIDDEN_KEY = "denoiser_hidden_size"
# Inventory.metadata key under which it records the other layer shapes (JSON), see pipeline_metadata
SHAPES_KEY = "diffusion_shapes"


def denoiser_hidden_size(config: dict[str, object] | None) -> int | None:
    """Hidden size of a diffusion transformer from its diffusers config.json (FLUX, SD3, PixArt, Sana, …:
    num_attention_heads × attention_head_dim); None for a UNet or an unknown layout."""
    if not isinstance(config, dict):
        return None
    heads, head_dim = config.get("num_attention_heads"), config.get("attention_head_dim")
    if isinstance(heads, int) and isinstance(head_dim, int) and heads > 0 and head_dim > 0:
        return heads * head_dim
    hidden = config.get("hidden_size")
    return hidden if isinstance(hidden, int) and hidden > 0 else None


def pipeline_metadata(index: dict[str, Any], transformer_config: dict[str, Any] | None,
                      configs: dict[str, Any] | None = None) -> dict[str, str]:
    """What a pipeline reader records in Inventory.metadata: the pipeline class, the denoiser's hidden size that
    the activation model needs (absent for a UNet) and, under SHAPES_KEY, the layer shapes the stage walks read
    from the transformer config and from `configs` (component folder → its config.json: vae, T5 encoders)."""
    metadata = {"pipeline": str(index.get("_class_name", ""))}
    hidden = denoiser_hidden_size(transformer_config)
    if hidden:
        metadata[DENOISER_HIDDEN_KEY] = str(hidden)
    shapes = _config_shapes(transformer_config, configs or {})
    if shapes:
        metadata[SHAPES_KEY] = json.dumps(shapes, sort_keys=True)
    return metadata


@dataclass(frozen=True)
class DiTShape:
    """What the denoiser stage's activations need (defaults: black-forest-labs/FLUX.1-dev transformer/config.json
    and FluxPipeline): tokens = image patches + text tokens, widths and block kinds."""

    hidden_size: int
    text_tokens: int = 512  # FLUX.1-dev's T5 max_sequence_length
    patch: int = 2  # latents are patchified 2×2 (FLUX, SD3)
    vae_scale: int = 8  # pixels per latent pixel
    head_dim: int = 128  # attention_head_dim: the width of the fp32 rotary tables
    mlp_ratio: float = 4.0  # FluxSingleTransformerBlock's proj_mlp width ÷ hidden
    double_blocks: int = 19  # num_layers (FluxTransformerBlock)
    single_blocks: int = 38  # num_single_layers (FluxSingleTransformerBlock)
    latent_width: int = 64  # in_channels: packed latent channels per token (16 × 2 × 2)
    text_width: int = 4096  # joint_attention_dim: the prompt embeddings the pipeline holds
    pooled_width: int = 768  # pooled_projection_dim


@dataclass(frozen=True)
class VAEShape:
    """AutoencoderKL decoder layout (vae/config.json); the default is FLUX.1-dev's (SD 1.x/SDXL share the widths)."""

    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    latent_channels: int = 16
    out_channels: int = 3

    @property
    def scale(self) -> int:
        return int(2 ** (len(self.block_out_channels) - 1))


@dataclass(frozen=True)
class T5Shape:
    """A T5 encoder used as a text encoder (FLUX.1-dev's text_encoder_2: T5-XXL at max_sequence_length 512)."""

    d_model: int = 4096
    num_heads: int = 64
    tokens: int = 512


FLUX_TEXT_ENCODERS: dict[str, T5Shape] = {"text_encoder_2": T5Shape()}


@dataclass
class StagePeak:
    component: str
    weight_bytes: int
    activation_bytes: int = 0
    formula: str = ""

    @property
    def peak_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes


@dataclass
class PipelineMemory:
    stages: list[StagePeak]
    overhead_bytes: int
    heuristics: list[H.Heuristic] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def weight_bytes(self) -> int:
        return sum(s.weight_bytes for s in self.stages)

    @property
    def activation_bytes(self) -> int:
        return max((s.activation_bytes for s in self.stages), default=0)

    @property
    def all_resident_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes + self.overhead_bytes

    @property
    def offload_stage(self) -> StagePeak | None:
        return max(self.stages, key=lambda s: s.peak_bytes, default=None)

    @property
    def offload_peak_bytes(self) -> int:
        stage = self.offload_stage
        return (stage.peak_bytes if stage else 0) + self.overhead_bytes


def _resnet_extra(cin: int, cout: int) -> float:
    """Channels (× pixels) a ResnetBlock2D adds to its input at its worst moment (diffusers resnet.py)."""
    nhwc = H.VAE_CONV_NHWC_COPIES.value
    phases = [
        H.VAE_NORM_ACT_LIVE.value * cin,  # norm1 output + SiLU output
        cin + cout + nhwc * (cin + cout),  # conv1: silu(norm1(x)), its output, the NHWC copies
        cout + cout + nhwc * 2 * cout,  # conv2 likewise (norm2/SiLU hold only 2 × cout)
        H.VAE_RESIDUAL_LIVE.value * cout,  # hidden, sum, sum / output_scale_factor
    ]
    if cin != cout:  # conv_shortcut (1×1) on the input while conv2's output is held, then the residual holds it too
        phases += [cout + cout + nhwc * (cin + cout), (H.VAE_RESIDUAL_LIVE.value + 1) * cout]
    return max(phases)


def vae_decode_peak(vae: VAEShape, height: int, width: int) -> tuple[float, str]:
    """Elements per image live at the AutoencoderKL decoder's worst moment (besides its latent input), and where.

    Walks diffusers' Decoder: conv_in and the mid-block at the latent size, then each up-block's resnets at its
    resolution (the Decoder holds the block's input throughout) and its Upsample2D into the next resolution."""
    rev = list(reversed(vae.block_out_channels))
    nhwc = H.VAE_CONV_NHWC_COPIES.value
    p = (height // vae.scale) * (width // vae.scale)  # pixels at the latent resolution
    c = rev[0]
    events: list[tuple[float, str]] = [
        ((c + nhwc * (vae.latent_channels + c)) * p, "conv_in"),
        ((c + _resnet_extra(c, c)) * p, "mid-block resnet"),
        (H.VAE_MID_ATTENTION_LIVE.value * c * p, "mid-block attention"),
    ]
    for i, cout in enumerate(rev):
        cin = rev[i - 1] if i else rev[0]
        side = f"{height * 2 ** i // vae.scale}×{width * 2 ** i // vae.scale}"
        for j in range(vae.layers_per_block + 1):
            held = cin + (cout if j else 0)  # the block's input (held by the Decoder) + this resnet's input
            events.append(((held + _resnet_extra(cin if j == 0 else cout, cout)) * p,
                           f"up-block {i} resnet {j} at {side}"))
        if i < len(rev) - 1:  # Upsample2D: interpolate to 4× the pixels, then a 3×3 conv with its NHWC copies
            up = (H.VAE_UPSAMPLE_LIVE.value + nhwc * 2) * cout * 4 * p
            events.append(((cin + cout) * p + up, f"up-block {i} upsampler {side} → 2×"))
            p *= 4
    c0, out = rev[-1], vae.out_channels
    events.append(((c0 + c0 + out + nhwc * (c0 + out)) * p, "conv_norm_out/conv_out"))
    return max(events)


def vae_decode_bytes(height: int, width: int, batch: int = 1, act_bytes: int = 2, vae: VAEShape | None = None
                     ) -> int:
    """Peak activations of the AutoencoderKL decoder (the decoded latents themselves are the pipeline's)."""
    return int(batch * vae_decode_peak(vae or VAEShape(), height, width)[0] * act_bytes)


def dit_tokens(shape: DiTShape, height: int, width: int) -> int:
    side = shape.vae_scale * shape.patch
    return (height // side) * (width // side) + shape.text_tokens


def dit_activation_bytes(shape: DiTShape, height: int, width: int, batch: int = 1, act_bytes: int = 2) -> int:
    """Peak activations of one FLUX-style transformer forward (joint attention over image + text tokens).

    The worst moment is a block's rotary embedding of q: the block's held tensors, x_rotated and three fp32
    copies of q; the fp32 cos/sin tables for every token live throughout. SDPA (flash/cuDNN for head_dim ≤ 256)
    keeps no score matrix, so nothing grows with tokens²."""
    tokens, text, d = dit_tokens(shape, height, width), shape.text_tokens, shape.hidden_size
    rope = (1 * act_bytes + H.DIT_ROPE_FP32.value * 4) * tokens * d  # x_rotated + the fp32 copies
    peaks = []
    if shape.single_blocks:
        peaks.append((H.DIT_SINGLE_BLOCK_HELD.value + shape.mlp_ratio) * tokens * d * act_bytes + rope)
    if shape.double_blocks or not peaks:  # + the text stream's own q, k, v
        peaks.append((H.DIT_DOUBLE_BLOCK_HELD.value * tokens + 3 * text) * d * act_bytes + rope)
    tables = H.DIT_ROPE_TABLES.value * tokens * shape.head_dim * 4
    return int(batch * (max(peaks) + tables))


def pipeline_held_bytes(shape: DiTShape | None, height: int, width: int, batch: int = 1, act_bytes: int = 2) -> int:
    """What FluxPipeline.__call__ holds across the denoiser and VAE stages: the latents, the last noise
    prediction and the prompt embeddings (T5 sequence + pooled CLIP)."""
    s = shape or DiTShape(hidden_size=0)
    side = s.vae_scale * s.patch
    latents = H.PIPELINE_LATENT_COPIES.value * (height // side) * (width // side) * s.latent_width
    return int(batch * (latents + s.text_tokens * s.text_width + s.pooled_width) * act_bytes)


def t5_encode_bytes(t5: T5Shape, batch: int = 1, act_bytes: int = 2) -> int:
    """Peak activations of a T5 encoder (eager attention: heads × tokens² scores, softmax in fp32)."""
    scores = t5.num_heads * t5.tokens ** 2 * (H.T5_SCORE_MATRICES.value * act_bytes + H.T5_SOFTMAX_FP32.value * 4)
    return int(batch * (scores + H.T5_HIDDEN_LIVE.value * t5.tokens * t5.d_model * act_bytes))


_STAGE_HEURISTICS = {
    "vae": [H.VAE_CONV_NHWC_COPIES, H.VAE_NORM_ACT_LIVE, H.VAE_RESIDUAL_LIVE, H.VAE_UPSAMPLE_LIVE,
            H.VAE_MID_ATTENTION_LIVE, H.PIPELINE_LATENT_COPIES],
    "dit": [H.DIT_SINGLE_BLOCK_HELD, H.DIT_DOUBLE_BLOCK_HELD, H.DIT_ROPE_FP32, H.DIT_ROPE_TABLES,
            H.PIPELINE_LATENT_COPIES],
    "t5": [H.T5_SCORE_MATRICES, H.T5_SOFTMAX_FP32, H.T5_HIDDEN_LIVE],
}


def pipeline_memory(components: dict[str, int], *, height: int = 1024, width: int = 1024, batch: int = 1,
                    act_bytes: int = 2, vae_act_bytes: int | None = None, denoiser: DiTShape | None = None,
                    vae: VAEShape | None = None, text_encoders: dict[str, T5Shape] | None = None
                    ) -> PipelineMemory:
    """components: weight bytes per component folder (transformer, text_encoder, text_encoder_2, vae, …).

    vae_act_bytes: 4 when the VAE is upcast to fp32 (SD 1.x/SDXL's force_upcast); default the pipeline's dtype.
    vae: the decoder's layout (default FLUX.1-dev's); text_encoders: component name → T5 shape for the T5 encoders
    (default FLUX.1-dev's text_encoder_2); other text encoders (CLIP at 77 tokens) are not counted.
    """
    from vramcalc.errors import UsageError

    if height <= 0 or width <= 0 or batch <= 0:
        raise UsageError("resolution and batch must be positive", "e.g. --resolution 1024 --batch 1")
    vae = vae or VAEShape()
    encoders = FLUX_TEXT_ENCODERS if text_encoders is None else text_encoders
    stages: list[StagePeak] = []
    heur = [H.CUDA_CONTEXT, H.CUBLAS_WORKSPACE]
    notes: list[str] = []
    # tensors the pipeline itself holds while the denoiser and the VAE run (prompt embeddings, latents)
    held = pipeline_held_bytes(denoiser, height, width, batch, act_bytes)

    def use(kind: str) -> None:
        heur.extend(h for h in _STAGE_HEURISTICS[kind] if h not in heur)

    for name, nbytes in components.items():
        stage = StagePeak(name, nbytes)
        base = name.split("/")[-1]
        if base.startswith("vae"):
            vb = vae_act_bytes or act_bytes
            elements, where = vae_decode_peak(vae, height, width)
            stage.activation_bytes = int(batch * elements * vb) + held
            stage.formula = (f"VAE decode peak at {where}: {batch} × {elements:,.0f} elements × {vb} B + "
                             f"pipeline-held {held:,} B")
            use("vae")
        elif base.startswith(_DENOISERS):
            if denoiser is not None:
                stage.activation_bytes = dit_activation_bytes(denoiser, height, width, batch, act_bytes) + held
                tokens = dit_tokens(denoiser, height, width)
                stage.formula = (f"{base}: {batch} × {tokens:,} tokens (image + text) × hidden "
                                 f"{denoiser.hidden_size}, peak at the rotary embedding of a "
                                 f"{'single' if denoiser.single_blocks else 'double'}-stream block + "
                                 f"pipeline-held {held:,} B")
                use("dit")
            else:
                notes.append(f"{name}: activations not counted (its config is needed for its hidden size)")
        elif base in encoders:
            t5 = encoders[base]
            stage.activation_bytes = t5_encode_bytes(t5, batch, act_bytes)
            stage.formula = (f"T5 encoder: {batch} × {t5.num_heads} heads × {t5.tokens}² scores + "
                             f"{t5.tokens} × d_model {t5.d_model}")
            use("t5")
        stages.append(stage)
    explain = [f"{s.component}: weights {s.weight_bytes:,} B" + (f"; {s.formula} = {s.activation_bytes:,} B"
                                                                  if s.formula else "") for s in stages]
    overhead = H.CUDA_CONTEXT.as_int() + H.CUBLAS_WORKSPACE.as_int()
    return PipelineMemory(stages, overhead, heur, explain, notes)


# --------------------------------------------------------------------------- shapes from the component configs

def _ints(config: dict[str, Any], fields: dict[str, str]) -> dict[str, int]:
    return {ours: v for theirs, ours in fields.items()
            if isinstance(v := config.get(theirs), int) and not isinstance(v, bool) and v >= 0}


def _config_shapes(transformer: dict[str, Any] | None, configs: dict[str, Any]) -> dict[str, Any]:
    shapes: dict[str, Any] = {}
    if isinstance(transformer, dict) and denoiser_hidden_size(transformer):
        dit: dict[str, Any] = _ints(transformer, {
            "attention_head_dim": "head_dim", "num_layers": "double_blocks", "num_single_layers": "single_blocks",
            "in_channels": "latent_width", "joint_attention_dim": "text_width",
            "pooled_projection_dim": "pooled_width"})
        if "double_blocks" in dit and "single_blocks" not in dit:
            dit["single_blocks"] = 0  # SD3-style: joint blocks only
        if dit:
            shapes["denoiser"] = dit
    for name, config in sorted(configs.items()):
        if not isinstance(config, dict):
            continue
        if name.startswith("vae") and isinstance(config.get("block_out_channels"), list):
            channels = config["block_out_channels"]
            if channels and all(isinstance(c, int) and c > 0 for c in channels):
                shapes["vae"] = {"block_out_channels": channels,
                                 **_ints(config, {"layers_per_block": "layers_per_block",
                                                  "latent_channels": "latent_channels",
                                                  "out_channels": "out_channels"})}
        elif config.get("model_type") in ("t5", "umt5") and isinstance(config.get("d_model"), int):
            shapes.setdefault("text_encoders", {})[name] = _ints(config, {"d_model": "d_model",
                                                                         "num_heads": "num_heads"})
    return shapes


def pipeline_shapes(metadata: dict[str, str]) -> dict[str, Any]:
    """pipeline_memory's shape keywords (denoiser, vae, text_encoders) from what pipeline_metadata recorded;
    a shape not recorded keeps pipeline_memory's FLUX.1-dev default (no denoiser: its activations uncounted)."""
    try:
        shapes = json.loads(metadata.get(SHAPES_KEY) or "{}")
    except ValueError:
        shapes = {}
    shapes = shapes if isinstance(shapes, dict) else {}
    kwargs: dict[str, Any] = {}
    hidden = str(metadata.get(DENOISER_HIDDEN_KEY) or "")
    if hidden.isdigit() and int(hidden) > 0:
        kwargs["denoiser"] = DiTShape(hidden_size=int(hidden), **shapes.get("denoiser", {}))
    if "vae" in shapes:
        vae = dict(shapes["vae"])
        kwargs["vae"] = VAEShape(**{**vae, "block_out_channels": tuple(vae["block_out_channels"])})
    if "text_encoders" in shapes:
        kwargs["text_encoders"] = {name: T5Shape(**t5) for name, t5 in shapes["text_encoders"].items()}
    return kwargs
