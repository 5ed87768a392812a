"""`vramcalc train MODEL`: GPU memory to train or fine-tune a model (full, LoRA, QLoRA), per GPU."""

from __future__ import annotations

from typing import Annotated

import typer

from vramcalc.cli.options import GpuMemoryOpt, JsonOpt, RefreshOpt, RevisionOpt, TokenOpt, UnitsChoice, UnitsOpt
from vramcalc.cli.output import emit


def train(
    model: Annotated[str, typer.Argument(
        metavar="MODEL", help='count ("8B"), config.json, checkpoint folder or Hub id')],
    method: Annotated[list[str] | None, typer.Option(
        "--method", "-m", help="full, lora or qlora (repeatable); default: full, LoRA and QLoRA side by side")] = None,
    precision: Annotated[list[str] | None, typer.Option(
        "--precision", "-p", help="fp32, amp-bf16, amp-fp16 (fp32 weights with autocast), bf16 or fp16 "
                                  "(repeatable); default amp-bf16 for full, bf16 for LoRA/QLoRA")] = None,
    optimizer: Annotated[str | None, typer.Option(
        "--optimizer", "-o", help="adamw, adamw-fused, adam, adamw-8bit, paged-adamw-8bit, adafactor, sgd, lion "
                                  "(default adamw; paged-adamw-8bit for QLoRA)")] = None,
    seq_len: Annotated[int, typer.Option("--seq-len", "-s", help="tokens per sequence", min=1)] = 2048,
    batch: Annotated[int, typer.Option("--batch", "-b", help="micro-batch: sequences per forward", min=1)] = 1,
    grad_accum: Annotated[int, typer.Option(
        "--grad-accum", help="micro-batches per optimizer step (> 1: gradients stay allocated through every "
                             "forward)", min=1)] = 1,
    checkpointing: Annotated[bool, typer.Option(
        "--gradient-checkpointing", help="keep only each layer's input; recompute in backward")] = False,
    lora_rank: Annotated[int, typer.Option("--lora-rank", "-r", help="LoRA rank r")] = 16,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha", help="LoRA alpha (scales the update; no memory)")] = 32,
    lora_targets: Annotated[str, typer.Option(
        "--lora-targets", help="module names as peft takes them (q_proj,v_proj …) or all-linear")] = "all-linear",
    gpus: Annotated[int | None, typer.Option("--gpus", help="GPUs (data parallel) — default 1, or --gpu's count",
                                             min=1)] = None,
    zero: Annotated[int | None, typer.Option("--zero", help="DeepSpeed ZeRO stage 0-3 (needs --gpus 2+)")] = None,
    fsdp: Annotated[str | None, typer.Option("--fsdp", help="full or shard-grad-op (needs --gpus 2+)")] = None,
    offload_optimizer: Annotated[str | None, typer.Option(
        "--offload-optimizer", metavar="cpu", help="ZeRO-Offload: optimizer states and step in host RAM")] = None,
    offload_params: Annotated[str | None, typer.Option(
        "--offload-params", metavar="cpu", help="parameters in host RAM (ZeRO-3 or FSDP full)")] = None,
    gpu_memory: GpuMemoryOpt = None,
    gpu: Annotated[str | None, typer.Option(
        "--gpu", metavar="NAME", help='a GPU by name instead of --gpu-memory: "RTX 4090", 8xH100 (sets --gpus)'),
    ] = None,
    fit: Annotated[str | None, typer.Option(
        "--fit", help="batch or seq-len: the largest micro-batch or sequence length that fits the GPU")] = None,
    units: UnitsOpt = UnitsChoice.gb,
    explain: Annotated[bool, typer.Option("--explain", help="every term with its arithmetic and source")] = False,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    refresh: RefreshOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """GPU memory to train or fine-tune a causal LM: weights, gradients, optimizer states, activations, logits —
    per GPU, with the phase (forward, backward, optimizer step) that sets the peak."""

    from vramcalc.api import train as train_model

    emit(train_model(
        model, methods=_split(method), precisions=_split(precision), optimizer=optimizer, seq_len=seq_len, batch=batch,
        grad_accum=grad_accum, checkpointing=checkpointing, lora_rank=lora_rank, lora_alpha=lora_alpha,
        lora_targets=lora_targets, gpus=gpus, zero=zero, fsdp=fsdp, offload_optimizer=offload_optimizer,
        offload_params=offload_params, gpu_memory=gpu_memory, gpu=gpu, fit=fit, units=units.value, explain=explain,
        revision=revision, token=token, refresh=refresh), json_out)


def _split(values: list[str] | None) -> list[str]:
    """Repeatable options that also take comma lists: -m full -m lora, or -m full,lora."""
    out: list[str] = []
    for v in values or []:
        out += [x.strip().lower() for x in v.split(",") if x.strip()]
    return list(dict.fromkeys(out))
