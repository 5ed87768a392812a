"""Blocks several families share: a decoder layer with a plain MLP (GPT-NeoX, Phi, Falcon, OPT, BLOOM) and ViT
layers and towers (CLIP, SigLIP)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vramcalc.models.tensors import TensorBuilder


def ungated_layer(b: TensorBuilder, p: str, names: dict[str, str], h: int, qkv: int, inter: int, bias: bool,
                   norms: tuple[str, ...]) -> None:
    """One decoder block with a plain (ungated) MLP: LayerNorms with biases, fused or split QKV."""
    for ln in norms:
        b.add(p + f"{ln}.weight", h)
        b.add(p + f"{ln}.bias", h)
    for key, rows, cols in (("qkv", qkv, h), ("out", h, h), ("up", inter, h), ("down", h, inter)):
        if key == "qkv" and "q" in names:  # split q, k, v (Phi)
            for proj, out in zip(("q", "k", "v"), split_qkv(qkv, h), strict=True):
                b.add(p + names[proj] + ".weight", out, h)
                if bias:
                    b.add(p + names[proj] + ".bias", out)
            continue
        b.add(p + names[key] + ".weight", rows, cols)
        if bias:
            b.add(p + names[key] + ".bias", rows)


def split_qkv(qkv: int, h: int) -> tuple[int, int, int]:
    kv = (qkv - h) // 2
    return h, kv, kv


def vit_layers(b: TensorBuilder, p: str, c: int, inter: int, layers: int) -> None:
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


def vit_tower(b: TensorBuilder, p: str, vc: dict[str, Any], kind: str) -> int:
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
    vit_layers(b, p, c, int(vc.get("intermediate_size") or 4 * c), int(vc.get("num_hidden_layers") or 12))
    b.add(p + "post_layernorm.weight", c)
    b.add(p + "post_layernorm.bias", c)
    return c
