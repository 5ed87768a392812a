"""`vramcalc fit`: the report (pydantic, what --json dumps) and its assembly — the rows estimate builds, each planned
onto the GPUs given (calculator/fit.py), or, with no model, the largest representative decoder per format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vramcalc import heuristics as H
from vramcalc.reports import SCHEMA_VERSION, HeuristicUse, ModelSummary

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.calculator.fit import Device, FitInput, FitRequest, Plan
    from vramcalc.gpu_catalog import GpuSelection
    from vramcalc.inventory import Inventory
    from vramcalc.registry import FormatSpec, Registry
    from vramcalc.reports import FormatRow
    from vramcalc.units import ModelLabel


class _Report(BaseModel):
    model_config = ConfigDict(defer_build=True)


class GpuShare(_Report):
    """What one GPU holds under the plan."""

    device: int
    weights_bytes: int
    kv_cache_bytes: int = Field(description="KV cache on this GPU (vLLM: the whole pool it preallocates)")
    activation_bytes: int
    overhead_bytes: int = Field(description="CUDA context, engine buffers (vLLM: non-torch memory + CUDA graphs)")
    total_bytes: int
    layers: int | None = Field(None, description="llama.cpp: layers on this GPU (the output layer counts as one)")


class LaunchFlags(_Report):
    engine: str
    command: str = Field(description="the launch as text (MODEL stands for the model's path or id)")
    args: list[str] = Field([], description="the engine's command-line flags, one item each")
    settings: dict[str, Any] = Field({}, description="the same as parameters (llama.cpp's, vLLM's EngineArgs, "
                                                     "transformers' from_pretrained keywords)")


class SpeedBounds(_Report):
    """Bounds, not predictions: no run is faster than this."""

    decode_tokens_per_s_max: float | None = Field(
        None, description="decode, all sequences of --batch together: ≤ bandwidth ÷ bytes read per step × batch")
    decode_tokens_per_s_per_sequence_max: float | None = None
    bytes_read_per_step: int = Field(description="active weights on the GPUs + the KV of the context, per step")
    per_gpu_decode_tokens_per_s_max: list[float] = Field(
        [], description="each GPU alone: bandwidth ÷ the bytes it reads per step")
    prefill_seconds_min: float | None = Field(None, description="prefill of --context tokens × --batch: ≥ FLOPs ÷ peak")
    prefill_flops: int
    peak_tflops: float | None = None
    peak_kind: str | None = Field(None, description="which dense rate of the catalog: bf16, fp8, fp8/int8")
    bandwidth_gbs: float | None = None
    gpu_part_only: bool = Field(False, description="some weights are in host memory: the bound covers the GPUs' "
                                                   "part only (the real figure is lower still)")
    formula: list[str] = []


class FitRow(_Report):
    format: str
    family: str
    engine: str = Field(description="transformers, vllm, llama.cpp or llama.cpp-metal (unified-memory GPUs)")
    params: int
    weight_bytes: int
    fits: bool = Field(description="it runs on the GPUs given at --context × --batch, within the margin")
    offloaded: bool = Field(False, description="it fits only with part of the weights in host memory")
    plan: str = Field(description="how, in words: all on the GPU, layers split, experts/layers in host memory …")
    margin_bytes: int = Field(description="left free on every GPU (the engine's default unless --margin)")
    budget_bytes: int = Field(description="per GPU: usable memory − margin")
    gpus_used: int
    per_gpu: list[GpuShare] = []
    vram_bytes: int = Field(description="the fullest GPU under the plan (vLLM: its whole budget + CUDA graphs)")
    headroom_bytes: int = Field(description="usable memory − vram_bytes on the fullest GPU")
    host_bytes: int = Field(0, description="weights (and KV, buffers) the engine keeps in host memory")
    context: int
    max_context: int | None = Field(None, description="longest context per sequence (at --batch) under this plan")
    max_concurrency: int | None = Field(None, description="vLLM: sequences of --context the KV space holds at once")
    kv_capacity_tokens: int | None = Field(None, description="vLLM: tokens the KV space holds")
    gpu_layers: int | None = Field(None, description="llama.cpp -ngl: the output layer and the last N − 1 layers")
    n_layers: int | None = Field(None, description="llama.cpp: every layer -ngl can offload (repeating + output)")
    cpu_moe_layers: int | None = Field(None, description="llama.cpp --n-cpu-moe: layers whose routed experts stay "
                                                         "in host memory (all of them: -ot exps=CPU)")
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    tensor_split: list[int] | None = Field(None, description="llama.cpp -ts: layers per GPU")
    gpus_needed: int | None = Field(None, description="when it does not fit: GPUs of this kind it would need")
    kv_dtype: str | None = None
    launch: LaunchFlags | None = None
    speed: SpeedBounds | None = None
    notes: list[str] = []


class LargestModel(_Report):
    format: str
    engine: str
    params: int = Field(description="parameters of the largest representative decoder that fits (0: none)")
    decoder: str = Field(description="its shape: the Llama-3 family decoder vramcalc prices bare counts on")
    fit: FitRow | None = None


class FitReport(_Report):
    schema_version: int = SCHEMA_VERSION
    command: Literal["fit"] = "fit"
    model: ModelSummary | None = Field(None, description="None: no model given — `largest` answers instead")
    representative: str | None = Field(None, description="a bare count is planned on this representative decoder")
    gpu: str | None = Field(None, description="the catalog device (--gpu), None with --gpu-memory")
    gpu_count: int
    gpu_memory: int = Field(description="usable bytes per GPU (unified memory: the GPU's share of RAM)")
    gpu_memory_basis: str = Field(description="where that figure comes from, in words")
    unified_memory: bool = False
    ram_bytes: int | None = Field(None, description="unified memory: the whole RAM")
    engine: str = Field(description="--engine as given (auto: per row)")
    context: int
    batch: int
    units: Literal["gb", "gib"] = "gb"
    margin: int | None = Field(None, description="--margin in bytes; None: each engine's default")
    rows: list[FitRow] = []
    largest: list[LargestModel] = []
    warnings: list[str] = Field([], description="printed on stderr")
    notes: list[str] = []
    heuristics: list[HeuristicUse] = []
    explain: list[str] = []


# --------------------------------------------------------------------------------------------------- assembly


@dataclass
class FitOptions:
    formats: list[str] = field(default_factory=list)
    engine: str = "auto"
    context: int | None = None
    batch: int = 1
    kv_dtype: str | None = None
    margin: int | None = None
    flash_attention: bool = True
    n_ubatch: int = H.LLAMACPP_UBATCH.as_int()
    units: str = "gb"
    explain: bool = False


def device_of(selection: GpuSelection | None, gpu_memory: int | None, count: int = 1) -> Device:
    from vramcalc.calculator.fit import Device

    if selection is not None:
        d = selection.device
        return Device(count=selection.count, usable_bytes=selection.per_gpu_bytes, name=d.name,
                      bandwidth_gbs=d.bandwidth_gbs, bf16_tflops=d.bf16_tflops, fp8_tflops=d.fp8_tflops,
                      unified=d.unified_memory, ram_bytes=d.memory_bytes if d.unified_memory else None)
    assert gpu_memory is not None
    return Device(count=count, usable_bytes=gpu_memory)


def _row_engine(engine: str, device: Device) -> str:
    return "llama.cpp-metal" if engine == "llama.cpp" and device.unified else engine


def _fit_row(plan: Plan, family: str, params: int, weight_bytes: int, device: Device) -> FitRow:
    vram = plan.vram
    speed = None
    if plan.speed is not None and plan.fits:
        s = plan.speed
        speed = SpeedBounds(
            decode_tokens_per_s_max=s.decode_tokens_per_s, decode_tokens_per_s_per_sequence_max=s.decode_per_sequence,
            bytes_read_per_step=s.bytes_per_step, per_gpu_decode_tokens_per_s_max=s.per_gpu_decode,
            prefill_seconds_min=s.prefill_seconds, prefill_flops=s.prefill_flops, peak_tflops=s.peak_tflops,
            peak_kind=s.peak_kind, bandwidth_gbs=s.bandwidth_gbs, gpu_part_only=s.gpu_part_only, formula=s.formula)
    launch = (LaunchFlags(engine=plan.launch.engine, command=plan.launch.text, args=plan.launch.args,
                          settings=plan.launch.settings) if plan.launch and plan.launch.text else None)
    return FitRow(
        format=plan.format, family=family, engine=plan.engine, params=params, weight_bytes=weight_bytes,
        fits=plan.fits, offloaded=plan.offloaded, plan=plan.how, margin_bytes=plan.margin, budget_bytes=plan.budget,
        gpus_used=plan.gpus_used,
        per_gpu=[GpuShare(device=i, weights_bytes=g.weights, kv_cache_bytes=g.kv, activation_bytes=g.activations,
                          overhead_bytes=g.overhead, total_bytes=g.total, layers=g.layers)
                 for i, g in enumerate(plan.loads)],
        vram_bytes=vram, headroom_bytes=device.usable_bytes - vram, host_bytes=plan.host_bytes, context=plan.context,
        max_context=plan.max_context, max_concurrency=plan.max_concurrency,
        kv_capacity_tokens=plan.kv_capacity_tokens, gpu_layers=plan.gpu_layers, n_layers=plan.n_layers,
        cpu_moe_layers=plan.cpu_moe_layers, tensor_parallel=plan.tensor_parallel,
        pipeline_parallel=plan.pipeline_parallel, tensor_split=plan.tensor_split, gpus_needed=plan.gpus_needed,
        kv_dtype=plan.kv_dtype, launch=launch, speed=speed, notes=plan.notes,
    )


def _breakdown_bytes(row: FormatRow) -> dict[str, tuple[int, int]]:
    return {b.tensor_class: (b.bytes, b.params) for b in row.breakdown}


def _inputs(row: FormatRow, engine: str, model: ModelSummary, inventory: Inventory | None) -> FitInput:
    """What the planner needs of an estimate row: the embedding, output and routed-expert bytes inside its weights
    (from its per-class breakdown, or the stored tensors for the as-stored row)."""
    from vramcalc.calculator.engines import RowWeights
    from vramcalc.calculator.fit import FitInput

    largest = 0
    if row.breakdown or inventory is None:
        by = _breakdown_bytes(row)
        emb, emb_params = by.get("embeddings", (0, 0))
        out = by.get("lm_head", (0, 0))[0]
        experts = by.get("experts", (0, 0))[0]
    else:
        from vramcalc.components import classify

        emb = emb_params = out = experts = 0
        tensors = [(t.name, classify(t.name, len(t.shape)), t.nbytes, t.numel) for t in inventory.tensors]
        emb = sum(n for _, c, n, _ in tensors if c == "embeddings")
        emb_params = sum(p for _, c, _, p in tensors if c == "embeddings")
        out = sum(n for _, c, n, _ in tensors if c == "lm_head")
        experts = sum(n for _, c, n, _ in tensors if c == "experts")
        if engine.startswith("llama.cpp"):
            from vramcalc.calculator.activations import llamacpp_largest_tensor

            largest = llamacpp_largest_tensor((name, n) for name, _, n, _ in tensors)
    active = max(1, (model.active_params or model.params) - emb_params)
    low = row.bits_per_weight < 9
    fp8 = "fp8" in row.format.lower() or row.family == "fp8"
    return FitInput(row.format, engine, RowWeights(row.weight_bytes, 4 if row.bits_per_weight >= 32 else 2, emb, out,
                                                   largest, experts), row.params, active, low, fp8)


def _heuristic(h: Any) -> HeuristicUse:
    return HeuristicUse(name=h.name, value=h.value, unit=h.unit, source=h.source)


def _gpu_fields(selection: GpuSelection | None, device: Device) -> dict[str, Any]:
    if selection is not None:
        basis = selection.describe()
        if device.unified:
            left = (device.ram_bytes or 0) - device.usable_bytes
            basis += (f"; the other {left / 2**30:,.2f} GiB of RAM are macOS's and other programs', and llama.cpp's "
                      "host buffers (token embeddings, output buffer) come out of them too")
    else:
        basis = f"--gpu-memory: {device.usable_bytes / 2**30:,.2f} GiB = {device.usable_bytes / 1e9:,.2f} GB" + (
            " each" if device.count > 1 else "")
    return dict(gpu=device.name, gpu_count=device.count, gpu_memory=device.usable_bytes, gpu_memory_basis=basis,
                unified_memory=device.unified, ram_bytes=device.ram_bytes)


def fit_model(source: Inventory | ModelLabel, options: FitOptions, registry: Registry, device: Device,
              selection: GpuSelection | None = None) -> FitReport:
    """Plan each format row of a model (an inventory, or a bare count planned on its representative decoder)."""
    from vramcalc.architecture_helpers import architecture_of
    from vramcalc.calculator.engines import RuntimeRequest
    from vramcalc.calculator.fit import FitRequest, plan_row
    from vramcalc.errors import UsageError
    from vramcalc.estimate_report import EstimateRequest, estimate_inventory
    from vramcalc.inventory import Inventory as Inv

    representative = None
    formats = list(options.formats)
    notes: list[str] = []
    if not isinstance(source, Inv):
        from vramcalc.calculator.representative import representative_decoder
        from vramcalc.readers.config_json import inventory_from_config

        label = source
        decoder = representative_decoder(label.total_params)
        representative = (f"a representative Llama-3-shaped decoder for {label.text}: {decoder.describe()}")
        if label.format_name and not formats:
            formats = [label.format_name]
        if label.is_moe:
            notes.append(f"{label.text} names a mixture of experts; the representative decoder is dense, so expert "
                         "offload is not planned — give a config.json, checkpoint, GGUF or Hub id for that")
        inventory = inventory_from_config(_capped(decoder.config()), label.text)
    else:
        inventory = source
    if len(inventory.components) > 1:
        raise UsageError(f"{inventory.source} is a diffusion pipeline; fit plans language models",
                         "use `vramcalc estimate MODEL --gpu NAME` for a pipeline's GPUs")
    arch, _ = architecture_of(inventory)
    if arch is None:
        raise UsageError(f"fit needs the architecture of {inventory.source} (layers, heads) and found none",
                         "give a config.json, checkpoint, GGUF or Hub id with its config")
    if options.engine == "llama.cpp-metal" or (options.engine == "vllm" and device.unified):
        if options.engine == "vllm":
            raise UsageError("vLLM does not run on Apple GPUs (unified memory)",
                             "use --engine llama.cpp (Metal) or transformers")
    est_request = EstimateRequest(
        formats=formats, units=options.units,
        runtime=RuntimeRequest(engine=options.engine, batch=options.batch,
                               kv_dtype=options.kv_dtype if options.engine != "auto" else None),
        contexts=[options.context] if options.context else [])
    report = estimate_inventory(inventory, est_request, registry)
    context = report.context
    request = FitRequest(context=context, batch=options.batch, kv_dtype=options.kv_dtype,
                         flash_attention=options.flash_attention, n_ubatch=options.n_ubatch, margin=options.margin,
                         registry=registry)
    # the estimate's vLLM capacity warnings are for one default GPU; each plan warns for the GPUs given
    rows, explain = [], []
    warnings = [w for w in report.warnings if not w.startswith("vLLM: ") and "GPUs of" not in w]
    heuristics: dict[str, HeuristicUse] = {h.name: h for h in report.heuristics}
    for row in report.rows:
        engine = _row_engine(row.engine or "transformers", device)
        fit_in = _inputs(row, engine, report.model, inventory if row.family == "stored" else None)
        plan = plan_row(fit_in, arch, device, _kv_for(request, engine))
        rows.append(_fit_row(plan, row.family, row.params, row.weight_bytes, device))
        warnings += [w for w in plan.warnings if w not in warnings]
        explain += plan.explain + (plan.speed.formula if plan.speed and options.explain else [])
        for h in plan.heuristics:
            heuristics[h.name] = _heuristic(h)
    if device.unified and any(r.engine == "transformers" for r in rows):
        notes.append("transformers rows on an Apple GPU are priced as on CUDA (a CUDA-sized context overhead, "
                     "accelerate's offload to the CPU sharing the same RAM): an upper bound for PyTorch on MPS")
    notes += _notes(rows, device, context, options)
    # the estimate's own answers (its best fit, each row's host memory at full offload) give way to the plans
    row_names = tuple(f"{r.format}: " for r in report.rows)
    notes += [n for n in report.notes if "most precise format" not in n and not n.startswith(row_names)
              and n not in notes]
    return FitReport(model=report.model, representative=representative, engine=options.engine, context=context,
                     batch=options.batch, units=options.units,
                     margin=options.margin, rows=rows, warnings=warnings, notes=notes,
                     heuristics=list(heuristics.values()), explain=explain if options.explain else [],
                     **_gpu_fields(selection, device))


def _kv_for(request: FitRequest, engine: str) -> FitRequest:
    """--kv-dtype for a row: kept where the engine allocates that cache type, else the engine's default."""
    from dataclasses import replace

    from vramcalc.calculator.kv import check_kv_dtype
    from vramcalc.errors import UsageError

    if request.kv_dtype is None:
        return request
    try:
        check_kv_dtype(request.kv_dtype, engine, request.registry)
    except UsageError:
        return replace(request, kv_dtype=None)
    return request


def _notes(rows: list[FitRow], device: Device, context: int, options: FitOptions) -> list[str]:
    out = []
    fitting = [r for r in rows if r.fits and not r.offloaded]
    where = (f"{device.count} × {device.name}" if device.name and device.count > 1 else device.name
             or (f"{device.count} GPUs" if device.count > 1 else "the GPU"))
    if fitting:
        best = max(fitting, key=lambda r: (r.weight_bytes / max(1, r.params), -r.vram_bytes))
        out.append(f"the most precise format here that runs wholly on {where} at {context:,} tokens × "
                   f"{options.batch}: {best.format} ({best.vram_bytes / 1e9:.2f} GB on the fullest GPU)")
    elif any(r.fits for r in rows):
        out.append(f"no format here fits wholly on {where}; the rows that fit keep part of the model in host memory")
    if any(r.speed is not None for r in rows):
        out.append("speeds are bounds from the catalog's bandwidth and peak throughput (no run is faster): decode "
                   "tokens/s ≤ bandwidth ÷ bytes read per token; prefill ≥ FLOPs ÷ peak (--explain shows each)")
    return out


# --------------------------------------------------------------------------------------------------- no model


def largest_model(options: FitOptions, registry: Registry, device: Device,
                  selection: GpuSelection | None = None) -> FitReport:
    """Per format: the largest decoder of the representative family that runs wholly on the GPUs at the context."""
    from vramcalc.calculator.fit import FitRequest, plan_row
    from vramcalc.estimate_report import EstimateRequest, pick_formats

    specs = pick_formats(EstimateRequest(formats=list(options.formats)), registry)
    context = options.context or H.DEFAULT_CONTEXT.as_int()
    request = FitRequest(context=context, batch=options.batch, kv_dtype=options.kv_dtype,
                         flash_attention=options.flash_attention, n_ubatch=options.n_ubatch, margin=options.margin,
                         registry=registry)
    out: list[LargestModel] = []
    warnings: list[str] = []
    explain: list[str] = []
    heuristics: dict[str, HeuristicUse] = {}
    for spec in specs:
        engine = options.engine if options.engine != "auto" else (
            "llama.cpp" if spec.family in ("gguf_type", "gguf_mix") else "transformers")
        engine = _row_engine(engine, device)
        req = _kv_for(request, engine)
        found = _largest_for(spec, engine, registry, device, req)
        if found is None:
            out.append(LargestModel(format=spec.name, engine=engine, params=0,
                                    decoder="none: not even a 0.1B decoder fits"))
            continue
        params, decoder, fit_in, arch, weight_bytes = found
        plan = plan_row(fit_in, arch, device, req)
        for h in plan.heuristics:
            heuristics[h.name] = _heuristic(h)
        explain += plan.explain
        out.append(LargestModel(format=spec.name, engine=engine, params=params, decoder=decoder,
                                fit=_fit_row(plan, spec.family, params, weight_bytes, device)))
    from vramcalc.calculator.representative import HEURISTICS

    for h in HEURISTICS:
        heuristics[h.name] = _heuristic(h)
    notes = ["the largest model per format: a decoder of the Llama 3 shape family (vramcalc's representative "
             "decoder for a bare count: Meta's head size, KV heads, FFN ratio and vocabulary, depth interpolated "
             "between Meta's sizes) that runs wholly on the GPUs at the context and batch, within the margin; real "
             "models of that count differ by a few % (vocabulary, KV heads)"]
    return FitReport(model=None, engine=options.engine, context=context, batch=options.batch,
                     units=options.units,
                     margin=options.margin, largest=out, warnings=warnings, notes=notes,
                     heuristics=list(heuristics.values()), explain=explain if options.explain else [],
                     **_gpu_fields(selection, device))


def _capped(config: dict[str, Any]) -> dict[str, Any]:
    """A representative decoder's config with the longest context it is searched to (it states none)."""
    from vramcalc.heuristics import FIT_REPRESENTATIVE_MAX_CONTEXT

    return {**config, "max_position_embeddings": FIT_REPRESENTATIVE_MAX_CONTEXT.as_int()}


def _representative_input(n: int, spec: FormatSpec, engine: str, registry: Registry
                          ) -> tuple[int, str, FitInput, Architecture, int]:
    from vramcalc.architecture import architecture_from_config
    from vramcalc.calculator.engines import RowWeights
    from vramcalc.calculator.fit import FitInput
    from vramcalc.calculator.quantize import plan_format
    from vramcalc.calculator.representative import representative_decoder
    from vramcalc.readers.config_json import inventory_from_config

    decoder = representative_decoder(n)
    config = _capped(decoder.config())
    inventory = inventory_from_config(config, f"{n}")
    wplan = plan_format(inventory, spec, registry)
    by: dict[str, tuple[int, int]] = {}
    for p in wplan.groups:
        b, c = by.get(p.cls, (0, 0))
        by[p.cls] = (b + p.total_bytes, c + p.total_params)
    bits = wplan.nbytes * 8 / max(1, wplan.params)
    weights = RowWeights(wplan.nbytes, 4 if bits >= 32 else 2, by.get("embeddings", (0, 0))[0],
                         by.get("lm_head", (0, 0))[0])
    active = wplan.params - by.get("embeddings", (0, 0))[1]
    fit_in = FitInput(spec.name, engine, weights, wplan.params, active, bits < 9,
                      "fp8" in spec.name.lower() or spec.family == "fp8")
    return decoder.params, decoder.describe(), fit_in, architecture_from_config(config), wplan.nbytes


def _largest_for(spec: FormatSpec, engine: str, registry: Registry, device: Device, request: Any
                 ) -> tuple[int, str, FitInput, Architecture, int] | None:
    """Geometric bisection on the count (1e8 … 1e13) for the largest decoder whose plan runs wholly on the GPUs."""
    from vramcalc.calculator.fit import plan_row

    def fits(n: int) -> bool:
        _, _, fit_in, arch, _ = _representative_input(n, spec, engine, registry)
        plan = plan_row(fit_in, arch, device, request, longest=False)
        return plan.fits and not plan.offloaded

    lo, hi = 10**8, 10**13
    if not fits(lo):
        return None
    while hi / lo > 1.004:
        mid = int((lo * hi) ** 0.5)
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return _representative_input(lo, spec, engine, registry)
