"""`vramcalc train MODEL`: GPU memory to train or fine-tune a model (full, LoRA, QLoRA), per GPU."""

from __future__ import annotations

from typing import Annotated

import typer

from vramcalc.cli.options import JsonOpt, UnitsChoice, UnitsOpt
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
    gpu_memory: Annotated[str | None, typer.Option(
        "--gpu-memory", help="memory per GPU, e.g. 24GiB: does it fit, and with --fit the largest that does")] = None,
    gpu: Annotated[str | None, typer.Option(
        "--gpu", metavar="NAME", help='a GPU by name instead of --gpu-memory: "RTX 4090", 8xH100 (sets --gpus)'),
    ] = None,
    fit: Annotated[str | None, typer.Option(
        "--fit", help="batch or seq-len: the largest micro-batch or sequence length that fits the GPU")] = None,
    units: UnitsOpt = UnitsChoice.gb,
    explain: Annotated[bool, typer.Option("--explain", help="every term with its arithmetic and source")] = False,
    revision: Annotated[str | None, typer.Option("--revision", help="Hub revision (branch, tag, commit)")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Hub token (else $HF_TOKEN)", show_default=False)] = None,
    json_out: JsonOpt = False,
) -> None:
    """GPU memory to train or fine-tune a causal LM: weights, gradients, optimizer states, activations, logits —
    per GPU, with the phase (forward, backward, optimizer step) that sets the peak."""

    from vramcalc.calculator.optimizers import OPTIMIZERS
    from vramcalc.calculator.training import FSDP_MODES, METHODS, PRECISIONS, TrainRequest
    from vramcalc.errors import UsageError
    from vramcalc.resolve import resolve_model
    from vramcalc.train_report import (
        DEFAULT_OPTIMIZER,
        DEFAULT_PRECISION,
        DEFAULT_ROWS,
        FIT_KINDS,
        build_train_report,
    )
    from vramcalc.units import parse_size

    methods = _split(method)
    precisions = _split(precision)
    for m in methods:
        if m not in METHODS:
            raise UsageError(f"unknown method {m!r}", f"choose one of: {', '.join(METHODS)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise UsageError(f"unknown precision {p!r}", f"choose one of: {', '.join(PRECISIONS)}")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}", f"choose one of: {', '.join(OPTIMIZERS)}")
    if fsdp is not None and fsdp not in FSDP_MODES:
        raise UsageError(f"unknown FSDP mode {fsdp!r}", f"choose one of: {', '.join(FSDP_MODES)}")
    for flag, value in (("--offload-optimizer", offload_optimizer), ("--offload-params", offload_params)):
        if value is not None and value.lower() != "cpu":
            raise UsageError(f"{flag} {value!r}: only cpu is supported", f"write {flag} cpu")
    if fit is not None and fit not in FIT_KINDS:
        raise UsageError(f"unknown --fit {fit!r}", "choose batch or seq-len")
    if lora_rank <= 0:
        raise UsageError(f"--lora-rank {lora_rank} is not positive", "give a rank of 1 or more (8, 16, 64 …)")
    targets = tuple(t.strip() for t in lora_targets.split(",") if t.strip())
    if not targets:
        raise UsageError("empty --lora-targets", "name modules (q_proj,v_proj) or give all-linear")

    memory = gpu_name = None
    count = 1
    if gpu is not None:
        if gpu_memory is not None:
            raise UsageError("--gpu and --gpu-memory both give the GPU's memory", "give one of them")
        from vramcalc.gpu_catalog import select_gpu

        selection = select_gpu(gpu)
        memory, gpu_name, count = selection.per_gpu_bytes, selection.label, selection.count
        if gpus is not None and gpus != count and count > 1:
            raise UsageError(f"--gpu {gpu} names {count} GPUs but --gpus is {gpus}", "give one count")
    elif gpu_memory is not None:
        memory = parse_size(gpu_memory, "--gpu-memory", unit_required=True)
    if fit is not None and memory is None:
        raise UsageError("--fit needs the GPU's memory", "add --gpu-memory 80GB or --gpu H100")
    n_gpus = gpus if gpus is not None else count

    if not methods and not precisions:
        rows = [(m, p, optimizer or DEFAULT_OPTIMIZER[m]) for m, p in DEFAULT_ROWS]
    else:
        rows = [(m, p, optimizer or DEFAULT_OPTIMIZER[m])
                for m in (methods or ["full"]) for p in (precisions or [DEFAULT_PRECISION[m]])]
    base = TrainRequest(
        seq_len=seq_len, batch=batch, grad_accum=grad_accum, checkpointing=checkpointing, lora_rank=lora_rank,
        lora_alpha=lora_alpha, lora_targets=targets, gpus=n_gpus, zero=zero, fsdp=fsdp,
        offload_optimizer=offload_optimizer is not None, offload_params=offload_params is not None,
    )
    source = resolve_model(model, revision=revision, token=token, quant_set=False)
    report = build_train_report(source, base, rows, units=units.value, explain=explain, gpu_memory=memory,
                                gpu_name=gpu_name, fit=fit)
    emit(report, json_out)


def _split(values: list[str] | None) -> list[str]:
    """Repeatable options that also take comma lists: -m full -m lora, or -m full,lora."""
    out: list[str] = []
    for v in values or []:
        out += [x.strip().lower() for x in v.split(",") if x.strip()]
    return list(dict.fromkeys(out))
