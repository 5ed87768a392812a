"""`vramcalc train`: the report (one row per method × precision) and the glue from a resolved model to it.

Pure: the CLI resolves what the user typed (resolve_model) and hands the source in; calculator/training.py does the
arithmetic. The table and `--json` both come from the TrainReport built here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from vramcalc.calculator.bisect import largest
from vramcalc.reports import SCHEMA_VERSION, HeuristicUse, ModelSummary, _Report

if TYPE_CHECKING:

    from vramcalc.architecture import Architecture
    from vramcalc.calculator.training import Param, TrainEstimate, TrainRequest
    from vramcalc.inventory import Inventory
    from vramcalc.units import ModelLabel

FIT_KINDS = ("batch", "seq-len")
DEFAULT_PRECISION = {"full": "amp-bf16", "lora": "bf16", "qlora": "bf16"}
DEFAULT_OPTIMIZER = {"full": "adamw", "lora": "adamw", "qlora": "paged-adamw-8bit"}
# no --method/--precision: the question people ask ("full, LoRA or QLoRA?")
DEFAULT_ROWS = (("full", "amp-bf16"), ("full", "bf16"), ("lora", "bf16"), ("qlora", "bf16"))


class TrainBreakdown(_Report):
    """Per GPU, each term at its own largest (terms of different phases are not all live at once)."""

    weights_bytes: int = Field(description="the model's weights on each GPU (fp32 under autocast; NF4 + bf16 for a "
                                           "QLoRA base; + LoRA adapters)")
    master_weights_bytes: int = Field(0, description="DeepSpeed's fp32 master copy (mixed precision under ZeRO)")
    gradient_bytes: int
    optimizer_state_bytes: int = Field(description="in torch's allocator (paged states: paged_state_bytes)")
    paged_state_bytes: int = Field(0, description="bitsandbytes paged states: CUDA unified memory, evictable to host")
    activation_bytes: int = Field(description="saved for backward over one micro-batch (with checkpointing: each "
                                              "layer's input)")
    layer_activation_bytes: int = Field(description="one layer's saved tensors (rebuilt in backward with "
                                                    "checkpointing)")
    autocast_weight_copy_bytes: int = Field(0, description="bf16 copies of fp32 Linear weights kept by autocast")
    logits_loss_bytes: int = Field(description="the logits and cross-entropy tensors at the loss's backward")
    optimizer_step_temp_bytes: int = Field(description="temporaries of the optimizer step")
    buffer_bytes: int = Field(description="cuBLAS workspaces, DDP buckets")
    sharding_bytes: int = Field(0, description="ZeRO-3/FSDP gathered parameters and gradient buckets")
    allocator_slack_bytes: int = Field(description="caching-allocator reserve above the allocated peak")
    cuda_context_bytes: int


class TrainRow(_Report):
    method: Literal["full", "lora", "qlora"]
    precision: str
    optimizer: str
    optimizer_implementation: str
    trainable_params: int
    lora_modules: int = Field(0, description="Linear modules LoRA adapts")
    breakdown: TrainBreakdown
    phases: dict[str, int] = Field(description="phase → bytes allocated at its peak (forward, backward, optimizer "
                                               "step)")
    peak_parts: dict[str, int] = Field(description="what is live at the peak phase (adds up to "
                                                   "peak_allocated_bytes)")
    peak_phase: str
    peak_allocated_bytes: int = Field(description="what torch.cuda.max_memory_allocated reports, per GPU")
    peak_reserved_bytes: int = Field(description="torch.cuda.max_memory_reserved: allocated peak + allocator slack")
    total_bytes: int = Field(description="the process on each GPU (nvidia-smi): reserved + paged states + CUDA "
                                         "context")
    host_bytes: int = Field(0, description="host RAM per GPU process for offloaded states or parameters")
    fits: bool | None = Field(None, description="total_bytes ≤ the GPU's memory (None: no GPU given)")
    max_batch: int | None = Field(None, description="--fit batch: the largest micro-batch that fits (0: none)")
    max_seq_len: int | None = Field(None, description="--fit seq-len: the longest sequence that fits (0: none)")
    measured: bool = Field(description="this method/optimizer has a GPU measurement in tests/data/measurements")
    notes: list[str] = []
    explain: list[str] = Field([], description="every term with its arithmetic (filled with --explain)")


class TrainReport(_Report):
    schema_version: int = SCHEMA_VERSION
    command: Literal["train"] = "train"
    model: ModelSummary
    units: Literal["gb", "gib"] = "gb"
    seq_len: int
    batch: int = Field(description="micro-batch (sequences per forward)")
    grad_accum: int
    gradient_checkpointing: bool
    gpus: int
    sharding: str = Field(description="none, DDP, ZeRO-N or FSDP mode, with offloads")
    lora_rank: int | None = None
    lora_alpha: int | None = None
    lora_targets: list[str] = []
    gpu_memory: int | None = Field(None, description="bytes per GPU (--gpu-memory / --gpu)")
    gpu_name: str | None = None
    fit: str | None = Field(None, description="batch or seq-len: what --fit searched")
    rows: list[TrainRow]
    warnings: list[str] = Field([], description="printed on stderr")
    heuristics: list[HeuristicUse] = []
    notes: list[str] = []


# --------------------------------------------------------------------------- from a source to the inputs


def training_inputs(source: ModelLabel | Inventory
                    ) -> tuple[Architecture, list[Param], ModelSummary, list[str], list[str]]:
    """The architecture and parameter list to train, from a count (the representative decoder) or an inventory,
    with notes and the reader's warnings."""
    from vramcalc.architecture import architecture_from_config
    from vramcalc.architecture_helpers import architecture_of, architecture_summary
    from vramcalc.calculator.training import Param
    from vramcalc.errors import UsageError
    from vramcalc.inventory import Inventory
    from vramcalc.readers.config_json import inventory_from_config

    notes: list[str] = []
    if not isinstance(source, Inventory):
        from vramcalc.calculator.representative import representative_decoder

        if source.is_moe:
            raise UsageError(f"{source.text} names experts but not their shapes",
                             "give the model's config.json or Hub id to price MoE training")
        if source.format_name:
            raise UsageError(f"{source.text} names a format; training sets its own precision",
                             f"give the count alone ({source.total_params:,}) with --precision / --method qlora")
        shape = representative_decoder(source.total_params)
        config = shape.config()
        inventory = inventory_from_config(config, source.text)
        notes.append(f"a bare count is priced as a Llama-3-shaped decoder of {shape.n_layer} layers, hidden "
                     f"{shape.hidden}, vocab {shape.vocab:,}: give a config.json or Hub id for the real shapes")
        arch = architecture_from_config(config)
        kind = "count"
    else:
        inventory = source
        if inventory.kind == "gguf":
            raise UsageError(f"{inventory.source} is a GGUF (llama.cpp inference weights)",
                             "give the model's Hub id or config.json: training loads the safetensors weights")
        if inventory.quantization is not None:
            raise UsageError(f"{inventory.source} is a packed {inventory.quantization.scheme} checkpoint",
                             "give its unquantized base model (or its config.json); --method qlora quantizes it "
                             "the way bitsandbytes does")
        if "model_index.json" in {f.path.rsplit("/", 1)[-1] for f in inventory.files} or \
                len(inventory.components) > 1:
            raise UsageError(f"{inventory.source} is a diffusion pipeline",
                             "vramcalc train prices causal language models: give one")
        found, why = architecture_of(inventory)
        if found is None:
            raise UsageError(f"{inventory.source} has no architecture to train ({why or 'no config.json'})",
                             "give a folder or Hub repo with its config.json")
        arch = found
        kind = inventory.kind
    if arch.is_encoder or arch.family.role in ("t5", "clip"):
        raise UsageError(f"{inventory.source}: {arch.model_type} is not a causal language model",
                         "vramcalc train prices decoder-only LMs (Llama, Qwen, Mistral, Gemma, GPT-2 …)")
    params = [Param(t.name, tuple(t.shape)) for t in inventory.tensors]
    summary = ModelSummary(source=inventory.source, kind=kind, params=sum(p.numel for p in params),
                           architecture=architecture_summary(arch))
    return arch, params, summary, notes, list(inventory.warnings)


# --------------------------------------------------------------------------- the report


def _row(arch: Architecture, params: list[Param], req: TrainRequest, explain: bool) -> tuple[TrainRow, TrainEstimate]:
    from vramcalc.calculator.training import train_memory

    e = train_memory(arch, params, req)
    t = {k: v.nbytes for k, v in e.terms.items()}
    bd = TrainBreakdown(
        weights_bytes=t.get("weights", 0), master_weights_bytes=t.get("fp32 master weights", 0),
        gradient_bytes=t.get("gradients", 0), optimizer_state_bytes=t.get("optimizer states", 0),
        paged_state_bytes=e.paged_bytes, activation_bytes=t.get("activations", 0),
        layer_activation_bytes=t.get("one layer's activations", 0),
        autocast_weight_copy_bytes=t.get("autocast weight copies", 0), logits_loss_bytes=t.get("logits and loss", 0),
        optimizer_step_temp_bytes=t.get("optimizer step temporaries", 0), buffer_bytes=t.get("buffers", 0),
        sharding_bytes=t.get("gathered parameters", 0) + t.get("gradient buckets", 0),
        allocator_slack_bytes=e.allocator_slack_bytes, cuda_context_bytes=e.cuda_context_bytes,
    )
    row = TrainRow(
        method=req.method, precision=req.precision, optimizer=req.optimizer,
        optimizer_implementation=e.optimizer.implementation, trainable_params=e.trainable,
        lora_modules=e.lora_modules, breakdown=bd,
        phases={k: sum(v.values()) for k, v in e.phases.items()}, peak_parts=e.phases[e.peak_phase],
        peak_phase=e.peak_phase, peak_allocated_bytes=e.peak_allocated_bytes,
        peak_reserved_bytes=e.peak_reserved_bytes, total_bytes=e.total_bytes, host_bytes=e.host_bytes,
        measured=e.optimizer.measured and req.method != "qlora", notes=e.notes,
        explain=e.explain() if explain else [],
    )
    return row, e


def build_train_report(source: ModelLabel | Inventory, base: TrainRequest, rows: list[tuple[str, str, str]], *,
                       units: str = "gb", explain: bool = False, gpu_memory: int | None = None,
                       gpu_name: str | None = None, fit: str | None = None) -> TrainReport:
    """One row per (method, precision, optimizer), priced by calculator/training.py."""
    from vramcalc.calculator.training import train_memory
    from vramcalc.units import format_bytes

    arch, params, summary, notes, warnings = training_inputs(source)
    out: list[TrainRow] = []
    heur: dict[str, HeuristicUse] = {}
    for method, precision, optimizer in rows:
        req = replace(base, method=method, precision=precision, optimizer=optimizer)
        row, est = _row(arch, params, req, explain)
        for h in est.heuristics:
            heur.setdefault(h.name, HeuristicUse(name=h.name, value=h.value, unit=h.unit, source=h.source))
        if gpu_memory is not None:
            row.fits = row.total_bytes <= gpu_memory

            def fits_batch(b: int, q: TrainRequest = req, limit: int = gpu_memory) -> bool:
                return train_memory(arch, params, replace(q, batch=b)).total_bytes <= limit

            def fits_seq(s: int, q: TrainRequest = req, limit: int = gpu_memory) -> bool:
                return train_memory(arch, params, replace(q, seq_len=s)).total_bytes <= limit

            if fit == "batch":
                row.max_batch = largest(fits_batch, 1, 1 << 16, gallop=True) or 0
            elif fit == "seq-len":
                row.max_seq_len = largest(fits_seq, 1, arch.max_context or 1 << 20, gallop=True) or 0
        out.append(row)
    zero, fsdp = base.zero, base.fsdp
    sharding = ("FSDP " + fsdp if fsdp else f"ZeRO-{zero}" if zero is not None and zero > 0 else
                "DDP" if base.gpus > 1 else "none")
    if base.offload_optimizer:
        sharding += ", optimizer on CPU"
    if base.offload_params:
        sharding += ", parameters on CPU"
    lora = any(m != "full" for m, _, _ in rows)
    best = min(out, key=lambda r: r.total_bytes)
    notes = list(notes)
    if len(out) > 1:
        notes.append(f"least memory: {best.method} {best.precision} with {best.optimizer}, "
                     f"{format_bytes(best.total_bytes, units)} per GPU (peak allocated "
                     f"{format_bytes(best.peak_allocated_bytes, units)}, set by the {best.peak_phase})")
    return TrainReport(
        model=summary, units=units, seq_len=base.seq_len, batch=base.batch,
        grad_accum=base.grad_accum, gradient_checkpointing=base.checkpointing, gpus=base.gpus, sharding=sharding,
        lora_rank=base.lora_rank if lora else None, lora_alpha=base.lora_alpha if lora else None,
        lora_targets=list(base.lora_targets) if lora else [], gpu_memory=gpu_memory, gpu_name=gpu_name, fit=fit,
        rows=out, warnings=warnings, heuristics=list(heur.values()), notes=notes,
    )
