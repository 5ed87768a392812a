"""Diffusion pipelines: weights per component; peak with every component resident vs with model CPU offload.

A pipeline runs its stages one after another (text encoders, then the denoiser for every step, then the VAE
decode), so activations of different stages never coexist: all resident = every component's weights + the largest
stage's activations; model CPU offload (diffusers `enable_model_cpu_offload`) keeps one component on the GPU at a
time, so its peak is the largest (component weights + that stage's activations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vramcalc import heuristics as H

_DENOISERS = ("transformer", "unet", "prior", "decoder")
# Inventory.metadata key under which a pipeline reader records the denoiser's hidden size (from its config.json)
DENOISER_HIDDEN_KEY = "denoiser_hidden_size"


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


def pipeline_metadata(index: dict[str, Any], transformer_config: dict[str, Any] | None) -> dict[str, str]:
    """What a pipeline reader records in Inventory.metadata: the pipeline class, and the denoiser's hidden size
    that the activation model needs (absent for a UNet)."""
    metadata = {"pipeline": str(index.get("_class_name", ""))}
    hidden = denoiser_hidden_size(transformer_config)
    if hidden:
        metadata[DENOISER_HIDDEN_KEY] = str(hidden)
    return metadata


@dataclass(frozen=True)
class DiTShape:
    """What the denoiser's activations need: hidden size, and tokens = image patches + text tokens."""

    hidden_size: int
    text_tokens: int = 512  # FLUX.1-dev's T5 max_sequence_length
    patch: int = 2  # latents are patchified 2×2 (FLUX, SD3)
    vae_scale: int = 8  # pixels per latent pixel


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


def vae_decode_bytes(height: int, width: int, batch: int = 1, act_bytes: int = 2) -> int:
    """Peak activations of the AutoencoderKL decoder at the output resolution (see VAE_DECODE_LIVE)."""
    return batch * int(H.VAE_DECODE_LIVE.value) * 128 * height * width * act_bytes


def dit_tokens(shape: DiTShape, height: int, width: int) -> int:
    side = shape.vae_scale * shape.patch
    return (height // side) * (width // side) + shape.text_tokens


def dit_activation_bytes(shape: DiTShape, height: int, width: int, batch: int = 1, act_bytes: int = 2) -> int:
    return batch * dit_tokens(shape, height, width) * int(H.DIT_LIVE.value) * shape.hidden_size * act_bytes


def pipeline_memory(components: dict[str, int], *, height: int = 1024, width: int = 1024, batch: int = 1,
                    act_bytes: int = 2, vae_act_bytes: int | None = None, denoiser: DiTShape | None = None
                    ) -> PipelineMemory:
    """components: weight bytes per component folder (transformer, text_encoder, text_encoder_2, vae, …).

    vae_act_bytes: 4 when the VAE is upcast to fp32 (SD 1.x/SDXL's force_upcast); default the pipeline's dtype.
    """
    from vramcalc.errors import UsageError

    if height <= 0 or width <= 0 or batch <= 0:
        raise UsageError("resolution and batch must be positive", "e.g. --resolution 1024 --batch 1")
    stages: list[StagePeak] = []
    heur = [H.CUDA_CONTEXT, H.VAE_DECODE_LIVE]
    notes: list[str] = []
    for name, nbytes in components.items():
        stage = StagePeak(name, nbytes)
        base = name.split("/")[-1]
        if base.startswith("vae"):
            vb = vae_act_bytes or act_bytes
            stage.activation_bytes = vae_decode_bytes(height, width, batch, vb)
            stage.formula = (f"VAE decode: {batch} × {H.VAE_DECODE_LIVE.value:g} × 128 channels × {height} × {width}"
                             f" × {vb} B")
        elif base.startswith(_DENOISERS):
            if denoiser is not None:
                stage.activation_bytes = dit_activation_bytes(denoiser, height, width, batch, act_bytes)
                tokens = dit_tokens(denoiser, height, width)
                stage.formula = (f"{base}: {batch} × {tokens:,} tokens × {H.DIT_LIVE.value:g} × hidden "
                                 f"{denoiser.hidden_size} × {act_bytes} B")
                heur.append(H.DIT_LIVE)
            else:
                notes.append(f"{name}: activations not counted (its config is needed for its hidden size)")
        stages.append(stage)
    explain = [f"{s.component}: weights {s.weight_bytes:,} B" + (f"; {s.formula} = {s.activation_bytes:,} B"
                                                                  if s.formula else "") for s in stages]
    return PipelineMemory(stages, H.CUDA_CONTEXT.as_int(), heur, explain, notes)
