"""Build an EstimateReport: what a model needs in each format. Pure: callers pass what was read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from vramcalc.architecture_helpers import active_params_of, architecture_of, architecture_summary
from vramcalc.calculator.engines import RuntimeRequest
from vramcalc.calculator.weights import count_bytes, effective_spec, is_block_quantized
from vramcalc.components import classify
from vramcalc.heuristics import CUDA_CONTEXT, Heuristic
from vramcalc.reports import ClassBreakdown, ContextPoint, EstimateReport, FormatRow, HeuristicUse, ModelSummary
from vramcalc.units import ModelLabel, format_bytes, format_count

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.calculator.engines import RuntimeEstimate
    from vramcalc.calculator.weights import WeightPlan
    from vramcalc.inventory import Inventory
    from vramcalc.registry import FormatSpec, Registry

_BYTES_WORDS = {32: "4 bytes", 16: "2 bytes", 8: "1 byte"}
AUTO_ENGINE = "auto"  # --engine default: chosen per report from the formats and the source
AS_STORED = "as stored"
MAX_CONTEXT_SEARCH = 1 << 20  # tokens: the ceiling of the max-context search when the model states none


@dataclass
class FormatOptions:
    """User tweaks applied to every configurable format (`--group-size`, `--scale-bits`)."""

    group_size: int | None = None
    scale_bits: int | None = None
    bits: float | None = None

    def apply(self, spec: FormatSpec) -> FormatSpec:
        gs = self.group_size if "group_size" in spec.configurable else None
        sb = self.scale_bits if "scale_bits" in spec.configurable else None
        bits = self.bits if "bits" in spec.configurable else None
        if gs is None and sb is None and bits is None:
            return spec
        return spec.with_options(group_size=gs, scale_bits=sb, bits=bits)


@dataclass
class EstimateRequest:
    formats: list[str] = field(default_factory=list)
    units: str = "gb"
    explain: bool = False
    options: FormatOptions = field(default_factory=FormatOptions)
    runtime: RuntimeRequest = field(default_factory=RuntimeRequest)
    contexts: list[int | str] = field(default_factory=list)  # --context values; "max" = the model's maximum
    flag_architecture: Architecture | None = None  # --layers/--kv-heads/--head-dim for a bare count
    resolution: tuple[int, int] | None = None  # diffusion pipelines: (width, height); None: DEFAULT_RESOLUTION


class _Runtime:
    """Applies the engine profile to each row and gathers what the report shows about it."""

    def __init__(self, request: EstimateRequest, arch: Architecture | None, specs: list[FormatSpec],
                 gguf_source: bool = False) -> None:
        self.request, self.arch = request, arch
        self.rt = replace(request.runtime)  # engine and context are settled here, never in the caller's request
        self.heuristics: dict[str, Heuristic] = {}
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.explain: list[str] = []
        self._pick_engine(specs, gguf_source)
        self.contexts = self._contexts()
        self.rt.context = self.contexts[0]

    def _pick_engine(self, specs: list[FormatSpec], gguf_source: bool) -> None:
        """`--engine auto` (the default): llama.cpp runs GGUF files and GGUF types; the rest runs in transformers."""
        rt = self.rt
        if rt.engine != AUTO_ENGINE:
            return
        gguf = gguf_source or bool(specs) and all(s.family in ("gguf_type", "gguf_mix") for s in specs)
        rt.engine = "llama.cpp" if gguf else "transformers"
        if gguf:
            self.notes.append("engine llama.cpp: GGUF formats run there (--engine transformers or vllm to change)")

    def _contexts(self) -> list[int]:
        from vramcalc.errors import UsageError

        out: list[int] = []
        if not self.request.contexts:
            default = self.rt.context
            if self.arch is not None and self.arch.max_context and default > self.arch.max_context:
                default = int(self.arch.max_context)  # not past what the model accepts (BERT: 512)
            return [default]
        for c in self.request.contexts:
            if c == "max":
                if self.arch is None or not self.arch.max_context:
                    raise UsageError("--context max needs the model's maximum context",
                                     "give a config.json, checkpoint or GGUF, or a number such as --context 8192")
                out.append(int(self.arch.max_context))
            else:
                out.append(int(c))
        if self.arch is not None and self.arch.max_context:
            for c in out:
                warning = self.arch.context_warning(c)
                if warning:
                    self.warnings.append(warning)
        return out

    def apply(self, row: FormatRow, spec_bits: float, embedding_bytes: int = 0, output_bytes: int = 0,
              context: int | None = None) -> int:
        from vramcalc.calculator.engines import runtime_memory

        rt = self.rt
        if context is not None:
            rt = replace(rt, context=context)
        est = runtime_memory(self.arch, row.weight_bytes, rt, act_bytes=4 if spec_bits >= 32 else 2,
                             embedding_bytes=embedding_bytes, output_bytes=output_bytes)
        if context is not None:
            return est.total_bytes
        row.kv_cache_bytes, row.activation_bytes = est.kv_cache_bytes, est.activation_bytes
        row.overhead_bytes, row.total_bytes = est.overhead_bytes, est.total_bytes
        row.host_bytes, row.kv_capacity_tokens, row.max_concurrency = (
            est.host_bytes, est.kv_capacity_tokens, est.max_concurrency)
        row.process_bytes = est.process_bytes
        if rt.gpu_memory:
            self._split(row, est)
            if self.arch is not None:
                row.max_context = self._max_context(row, spec_bits, embedding_bytes, output_bytes)
        for h in est.heuristics:
            self.heuristics[h.name] = h
        self.warnings += [w for w in est.warnings if w not in self.warnings]
        for n in est.notes:
            n = f"{row.format}: {n}" if rt.engine == "vllm" and est.kv_capacity_tokens is not None else n
            if n not in self.notes:
                self.notes.append(n)
        if self.request.explain:
            parts = "; ".join(f"{name} {nbytes:,} B" for name, nbytes in est.parts.items())
            self.explain += [f"{row.format}: engine {est.label}" + (f" — {parts}" if parts else "")]
            self.explain += [f"{row.format}: {line}" for line in est.explain]
        return est.total_bytes

    def _max_context(self, row: FormatRow, spec_bits: float, embedding_bytes: int, output_bytes: int) -> int:
        """Inverse solving: the longest context this row runs at on one GPU of --gpu-memory (vLLM: the context at
        which its KV budget still holds --batch sequences)."""
        from vramcalc.calculator.engines import runtime_memory
        from vramcalc.calculator.gpu_fit import largest_context

        rt = self.rt
        assert rt.gpu_memory is not None and self.arch is not None
        limit = rt.gpu_memory

        def fits(context: int) -> bool:
            est = runtime_memory(self.arch, row.weight_bytes, replace(rt, context=context),
                                 act_bytes=4 if spec_bits >= 32 else 2, embedding_bytes=embedding_bytes,
                                 output_bytes=output_bytes)
            if rt.engine == "vllm":
                return (est.max_concurrency or 0) >= rt.batch
            return est.total_bytes <= limit

        return largest_context(fits, int(self.arch.max_context or MAX_CONTEXT_SEARCH))

    def _split(self, row: FormatRow, est: RuntimeEstimate) -> None:
        from vramcalc.calculator.gpu_fit import MAX_GPUS, split_over_gpus
        from vramcalc.heuristics import VLLM_GPU_MEMORY_UTILIZATION

        rt = self.rt
        assert rt.gpu_memory
        util = (rt.gpu_memory_utilization or VLLM_GPU_MEMORY_UTILIZATION.value) if rt.engine == "vllm" else 1.0
        split = split_over_gpus(weights_on_gpu=est.weights_on_gpu, kv_bytes=est.kv_cache_bytes,
                                activation_bytes=est.activation_bytes, overhead_bytes=est.overhead_bytes,
                                gpu_memory=rt.gpu_memory, engine=rt.engine, arch=self.arch, utilization=util)
        if split is None:
            row.gpus = row.per_gpu_bytes = row.gpu_split = None
            self.warnings.append(f"{row.format}: more than {MAX_GPUS} GPUs of {format_bytes(rt.gpu_memory)} needed")
            return
        row.gpus, row.per_gpu_bytes, row.gpu_split = split.gpus, split.per_gpu_bytes, split.how
        if self.request.explain:
            self.explain.append(
                f"{row.format}: {split.gpus} × {format_bytes(rt.gpu_memory)} GPU(s), {split.how}: "
                f"{format_bytes(split.per_gpu_bytes)} on each (weights {est.weights_on_gpu:,} B and KV "
                f"{est.kv_cache_bytes:,} B shared out, overhead {est.overhead_bytes:,} B on every GPU"
                + (f", limit {util:g} of each" if util < 1 else "") + ")")

    def sweep(self, rows: list[tuple[FormatRow, float, int, int]]) -> list[ContextPoint]:
        if len(self.contexts) < 2:
            return []
        return [ContextPoint(context=c, totals={r.format: self.apply(r, bits, emb, out, context=c)
                                                for r, bits, emb, out in rows}) for c in self.contexts]

    def finish(self, report: EstimateReport) -> EstimateReport:
        rt = self.rt
        report.engine = rt.engine
        report.context, report.batch = rt.context, rt.batch
        report.context_given = bool(self.request.contexts)
        report.kv_dtype, report.gpu_memory = rt.kv_dtype, rt.gpu_memory
        if rt.gpu_memory:
            self.notes.append(_best_fit(report.rows, rt.gpu_memory, rt.context, rt.batch, report.units))
        report.heuristics = [_heuristic_use(h) for h in self.heuristics.values()]
        report.notes += self.notes
        report.warnings += self.warnings
        report.explain += self.explain
        return report


def _best_fit(rows: list[FormatRow], gpu_memory: int, context: int, batch: int, units: str) -> str:
    """Inverse solving: the format with the most bits per weight that runs on one GPU of this size."""
    where = f"one {format_bytes(gpu_memory, units)} GPU at {context:,} tokens × {batch}"
    single = [r for r in rows if r.gpus == 1 and r.family != "stored"]
    if not single:
        return f"no format here fits {where}: see the GPUs column, or a smaller context"
    best = max(single, key=lambda r: (r.bits_per_weight, -r.total_bytes))
    return (f"the most precise format that fits {where}: {best.format} ({best.bits_per_weight:.3g} bits/weight, "
            f"{format_bytes(best.total_bytes, units)})")


def is_as_stored(name: str) -> bool:
    """`-d "as stored"` (or `stored`): the row of what the files hold now, without re-pricing."""
    return name.strip().lower().replace("_", " ").replace("-", " ") in (AS_STORED, "stored")


def pick_formats(
    request: EstimateRequest, registry: Registry, label: ModelLabel | None = None
) -> list[FormatSpec]:
    names = request.formats or ([label.format_name] if label and label.format_name else registry.default_rows)
    seen: dict[str, FormatSpec] = {}
    for name in names:
        if is_as_stored(name):
            continue
        spec = request.options.apply(registry.get(name))
        seen.setdefault(spec.name, spec)
    return list(seen.values())


def _heuristic_use(h: Heuristic) -> HeuristicUse:
    return HeuristicUse(name=h.name, value=h.value, unit=h.unit, source=h.source)


def estimate_count(label: ModelLabel, request: EstimateRequest, registry: Registry) -> EstimateReport:
    """Rows for a bare parameter count: every weight at the format's nominal bits per weight."""
    specs = pick_formats(request, registry, label)
    if not specs:
        from vramcalc.errors import UsageError

        raise UsageError(f"{label.text} is a parameter count: it has no stored form to show",
                         "pick formats with --dtype (bf16, Q4_K_M …), or give a checkpoint")
    n = label.total_params
    overhead = CUDA_CONTEXT.as_int()
    rows, explain = [], []
    runtime = _Runtime(request, request.flag_architecture, specs)
    swept = []
    for spec in specs:
        eff = effective_spec(spec, registry)
        nbytes = count_bytes(n, spec, registry)
        rows.append(FormatRow(
            format=spec.name, family=spec.family, params=n,
            bits_per_weight=float(Fraction(nbytes * 8, n)), weight_bytes=nbytes,
            overhead_bytes=overhead, total_bytes=nbytes + overhead,
            kept=_count_caveats(spec),
        ))
        bits = float(eff.bits_per_weight)
        runtime.apply(rows[-1], bits)
        swept.append((rows[-1], bits, 0, 0))
        if request.explain:
            explain += [x for x in _explain_count(n, spec, eff, nbytes, request.units, registry) if x not in explain]
    notes = _label_notes(label, specs, rows, request.units)
    return runtime.finish(EstimateReport(
        model=ModelSummary(
            source=label.text, kind="label" if label.format_name or label.is_moe else "count",
            params=n, active_params=label.active_params, experts=label.experts,
        ),
        units=request.units,
        rows=rows, notes=notes, explain=explain, context_sweep=runtime.sweep(swept),
    ))


def _count_caveats(spec: FormatSpec) -> list[str]:
    from vramcalc.calculator.representative import count_ftype

    if count_ftype(spec) is not None:
        return ["llama.cpp types priced on a representative Llama-3-shaped decoder for this count, with "
                "llama-quantize's per-tensor rules (see --explain): a real model's vocabulary and shapes move it by "
                "a few % — give a config, checkpoint or GGUF for the per-tensor figure"]
    out = []
    if spec.family == "gguf_mix":
        out.append(
            f"priced as all {spec.base_type}; the mix keeps some tensors in higher types — give a config, "
            "checkpoint or GGUF for the per-tensor figure"
        )
    if spec.quantizes == "linear":
        out.append("a bare count prices every weight quantized; real models keep norms (and often embeddings) "
                   "in higher precision")
    if spec.shape_dependent_overhead:
        out.append("per-row/column/tensor overhead not included: it needs tensor shapes")
    return out


def _explain_count(n: int, spec: FormatSpec, eff: FormatSpec, nbytes: int, units: str,
                   registry: Registry) -> list[str]:
    from vramcalc.calculator.representative import count_ftype

    lines = []
    ftype = count_ftype(spec)
    if ftype is None and eff is not spec:
        lines.append(f"{spec.name}: a llama.cpp mix, priced here at its base type {eff.name}")
    bpw = eff.bits_per_weight
    if eff.block_size:
        block_bits = bpw * eff.block_size
        lines.append(
            f"{eff.name}: one block = {eff.block_size} weights × {eff.payload_bits:g} bits + "
            + " + ".join(f"{o.bits} bits {o.name}" for o in eff.overhead if o.per in ("block", "blocks"))
            + f" = {float(block_bits):g} bits ({float(block_bits / 8):g} bytes) → {float(bpw):g} bits per weight"
        )
    if ftype is not None:
        from vramcalc.calculator.representative import explain_price, price_ftype

        price = price_ftype(n, ftype, registry)
        lines += explain_price(spec.name, n, price)
        bpw = price.bits_per_weight
    lines.append(
        f"{spec.name}: {n:,} parameters × {float(bpw):.6g} bits ÷ 8 = {nbytes:,} bytes "
        f"= {format_bytes(nbytes, 'gb')} = {format_bytes(nbytes, 'gib')}"
    )
    return lines


def _label_notes(label: ModelLabel, specs: list[FormatSpec], rows: list[FormatRow], units: str) -> list[str]:
    notes = []
    for spec, row in zip(specs, rows, strict=True):
        if spec.family == "float" and spec.block_size is None and spec.payload_bits in _BYTES_WORDS:
            bits = int(spec.payload_bits)
            notes.append(
                f"{format_count(label.total_params)} parameters at {_BYTES_WORDS[bits]} each ({spec.name}) need "
                f"about {format_bytes(row.weight_bytes, 'gb', 1)} for the weights alone"
                + (f", not {format_bytes(label.total_params, 'gb', 1)}" if bits == 16 else "")
                + ": a parameter count is not a byte count."
            )
            break
    if label.experts is not None and label.expert_params is not None:
        notes.append(
            f"{label.text} names {label.experts} experts of {format_count(label.expert_params)}: attention, "
            f"embeddings and norms are shared, so the true total is smaller than "
            f"{format_count(label.total_params)} (Mixtral 8x7B has 46.7B). Run `vramcalc inspect` on the model "
            "(a config.json, checkpoint or Hub id) for the exact count."
        )
    if label.active_params is not None:
        notes.append(
            f"{format_count(label.total_params)} total, {format_count(label.active_params)} active per token: "
            "every expert must still be in memory, so memory follows the total; the active count sets speed."
        )
    return notes


def estimate_inventory(inventory: Inventory, request: EstimateRequest, registry: Registry) -> EstimateReport:
    """Rows for real tensors: each format re-prices every tensor; what it does not quantize keeps its dtype."""
    from vramcalc.calculator.explain import explain_plan
    from vramcalc.calculator.gguf_file import predict_gguf_file_size
    from vramcalc.calculator.quantize import llamacpp_ftype, plan_format, tensor_chooser

    if inventory.kind == "config" and any(is_as_stored(f) for f in request.formats):
        from vramcalc.errors import UsageError

        raise UsageError(f"{inventory.source} has only a config, no stored weights to show 'as stored'",
                         "pick formats with --dtype (bf16, Q4_K_M …), or point at the checkpoint's folder")
    specs = pick_formats(request, registry)
    overhead = CUDA_CONTEXT.as_int()
    rows, explain = [], []
    chooser = tensor_chooser(inventory, registry)
    arch, arch_note = architecture_of(inventory)
    runtime = _Runtime(request, arch or request.flag_architecture, specs, gguf_source=inventory.kind == "gguf")
    pipeline = len(inventory.components) > 1
    vision_params = sum(t.numel for t in inventory.tensors if classify(t.name) in ("vision", "projector"))
    swept = []
    dequantizes = sorted({t.dtype for t in inventory.tensors if is_block_quantized(t.dtype)}
                         if inventory.kind == "gguf" else set())
    for spec in specs:
        plan = plan_format(inventory, spec, registry, chooser)
        file_bytes = None
        if llamacpp_ftype(spec) is not None:
            gguf = predict_gguf_file_size(inventory, spec, registry, plan)
            file_bytes = gguf.total
        kept = plan.kept_summary()
        if dequantizes:
            kept.insert(0, f"priced dequantized: the GGUF's {', '.join(dequantizes)} tensors are expanded to the "
                           f"weights they hold, then stored in {spec.name}")
        unconverted = chooser.unconverted.get(spec.name, [])
        if unconverted:
            kept.append(_unconverted_note(unconverted, plan, spec))
        if file_bytes is not None and vision_params:
            kept.append(f"the vision tower and projector ({format_count(vision_params)} parameters) go to a separate "
                        "mmproj GGUF, not counted in this row")
        breakdown = [
            ClassBreakdown(tensor_class=c.cls, params=c.params, bytes=c.bytes, types=c.types)
            for c in plan.by_class()
        ]
        rows.append(FormatRow(
            format=spec.name, family=spec.family, params=plan.params,
            bits_per_weight=float(plan.bits_per_weight), weight_bytes=plan.nbytes,
            overhead_bytes=overhead, total_bytes=plan.nbytes + overhead, kept=kept, breakdown=breakdown,
            file_bytes=file_bytes,
        ))
        emb = sum(p.nbytes for p in plan.tensors if p.cls == "embeddings")
        out = sum(p.nbytes for p in plan.tensors if p.cls == "lm_head")
        bits = float(effective_spec(spec, registry).bits_per_weight) if spec.family != "stored" else 16.0
        if pipeline:
            _pipeline(rows[-1], {c: sum(p.nbytes for p in plan.tensors if p.tensor.component == c)
                                 for c in inventory.components}, bits, inventory, request, runtime)
        else:
            runtime.apply(rows[-1], bits, emb, out)
            swept.append((rows[-1], bits, emb, out))
        if request.explain:
            explain += explain_plan(plan, request.units)
            if file_bytes is not None:
                how = "exact" if gguf.metadata_exact else "estimated from the vocabulary"
                explain.append(
                    f"  GGUF file: {file_bytes:,} bytes = tensor data + header, metadata, tensor infos and "
                    f"alignment padding (metadata {how})"
                )
    dtypes: dict[str, int] = {}
    for t in inventory.tensors:
        dtypes[t.dtype] = dtypes.get(t.dtype, 0) + t.numel
    wants_stored = not request.formats or any(is_as_stored(f) for f in request.formats)
    if inventory.kind != "config" and wants_stored:
        # What the files hold now, as the first row: the baseline every other row is compared with.
        stored = inventory.total_bytes
        rows.insert(0, FormatRow(
            format=AS_STORED, family="stored", params=inventory.total_params,
            bits_per_weight=float(Fraction(stored * 8, inventory.total_params or 1)), weight_bytes=stored,
            overhead_bytes=overhead, total_bytes=stored + overhead,
            kept=[f"as stored: {', '.join(sorted(dtypes))}"],
            file_bytes=sum(f.size for f in inventory.files) if inventory.kind == "gguf" and inventory.files else None,
        ))
        stored_bits = 32.0 if set(dtypes) == {"F32"} else 16.0
        emb = sum(t.nbytes for t in inventory.tensors if classify(t.name, len(t.shape)) == "embeddings")
        out = sum(t.nbytes for t in inventory.tensors if classify(t.name, len(t.shape)) == "lm_head")
        if pipeline:
            _pipeline(rows[0], {c: sum(t.nbytes for t in inventory.tensors if t.component == c)
                                for c in inventory.components}, stored_bits, inventory, request, runtime)
        else:
            runtime.apply(rows[0], stored_bits, emb, out)
            swept.insert(0, (rows[0], stored_bits, emb, out))
    notes = list(inventory.warnings) + ([arch_note] if arch_note else [])
    return runtime.finish(EstimateReport(
        model=ModelSummary(
            source=inventory.source, kind=inventory.kind, params=inventory.total_params,
            active_params=active_params_of(arch, inventory), experts=arch.num_experts if arch else None,
            stored_bytes=inventory.total_bytes if inventory.kind != "config" else None, stored_dtypes=dtypes,
            architecture=architecture_summary(arch) if arch else {},
        ),
        units=request.units,
        rows=rows, notes=notes, explain=explain, context_sweep=[] if pipeline else runtime.sweep(swept),
    ))


def _unconverted_note(names: list[str], plan: WeightPlan, spec: FormatSpec) -> str:
    """Tensors a llama.cpp type cannot hold (rows no block of it or of its fallback divides), left as stored."""
    by_name = {p.tensor.name: p for p in plan.tensors}
    plans = [by_name[n] for n in names if n in by_name]
    dtypes = sorted({p.tensor.dtype for p in plans})
    params = sum(p.tensor.numel for p in plans)
    first = plans[0].tensor if plans else None
    example = f", e.g. {first.name} (rows of {first.shape[-1]})" if first is not None and first.shape else ""
    return (f"{len(names)} tensors ({format_count(params)} parameters{example}) have rows that no {spec.name} "
            f"block divides: they stay {'/'.join(dtypes) or 'as stored'}, as stable-diffusion.cpp's converter "
            "(tensor_should_be_converted) and convert_hf_to_gguf.py leave them")


def _pipeline(row: FormatRow, components: dict[str, int], bits: float, inventory: Inventory,
              request: EstimateRequest, runtime: _Runtime) -> None:
    """Diffusion pipelines: no KV cache; stages run one after another, all resident or one at a time (model CPU
    offload). The denoiser's activations need its hidden size, read from its config by the reader."""
    from vramcalc.calculator.diffusion import pipeline_memory, pipeline_shapes

    if request.resolution is None:
        from vramcalc.heuristics import DEFAULT_RESOLUTION

        runtime.heuristics[DEFAULT_RESOLUTION.name] = DEFAULT_RESOLUTION
        width = height = DEFAULT_RESOLUTION.as_int()
    else:
        width, height = request.resolution
    mem = pipeline_memory(components, height=height, width=width, batch=request.runtime.batch,
                          act_bytes=4 if bits >= 32 else 2, **pipeline_shapes(inventory.metadata))
    row.components = components
    row.kv_cache_bytes, row.host_bytes = 0, 0
    row.kv_capacity_tokens = row.max_concurrency = None
    row.activation_bytes, row.overhead_bytes = mem.activation_bytes, mem.overhead_bytes
    row.total_bytes = mem.all_resident_bytes
    row.offload_peak_bytes = mem.offload_peak_bytes
    for h in mem.heuristics:
        runtime.heuristics[h.name] = h
    stage = mem.offload_stage
    note = (f"diffusion pipeline at {width}×{height}, batch {request.runtime.batch}: no KV cache; stages run one "
            "after another, so VRAM with every component resident = all weights + the largest stage's activations; "
            "with model CPU offload (enable_model_cpu_offload) one component is on the GPU at a time"
            + (f" — the peak is {stage.component} with its activations (offload_peak_bytes)" if stage else ""))
    for n in [note, *mem.notes]:
        if n not in runtime.notes:
            runtime.notes.append(n)
    if request.explain:
        runtime.explain += [f"{row.format}: {line}" for line in mem.explain]
