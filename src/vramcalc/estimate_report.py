"""Build an EstimateReport: what a model needs in each format. Pure: callers pass what was read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from vramcalc.architecture_helpers import active_params_of, architecture_of, architecture_summary
from vramcalc.calculator.engines import PROFILES, RowWeights, RuntimeRequest
from vramcalc.calculator.pricing import price_row
from vramcalc.calculator.weights import TensorPlan, count_bytes, effective_spec, is_block_quantized
from vramcalc.components import classify
from vramcalc.heuristics import Heuristic
from vramcalc.reports import (
    BestFit,
    ClassBreakdown,
    ContextPoint,
    EstimateReport,
    FormatRow,
    HeuristicUse,
    ModelSummary,
)
from vramcalc.units import ModelLabel, format_bytes, format_count

if TYPE_CHECKING:
    from collections.abc import Iterator

    from vramcalc.architecture import Architecture
    from vramcalc.calculator.weights import WeightPlan
    from vramcalc.gpu_catalog import GpuSelection
    from vramcalc.inventory import Inventory
    from vramcalc.registry import FormatSpec, Registry

_BYTES_WORDS = {32: "4 bytes", 16: "2 bytes", 8: "1 byte"}
AUTO_ENGINE = "auto"  # --engine default: chosen per report from the formats and the source
AS_STORED = "as stored"
PIPELINE_ENGINE = "diffusers"  # the engine a diffusion pipeline's rows are priced for


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
    given_options: frozenset[str] = frozenset()  # the CLI options the user typed (to name those that do not apply)
    gpu: GpuSelection | None = None  # --gpu NAME: the catalog device (its bytes are runtime.gpu_memory) and count

    @property
    def unified_memory(self) -> bool:
        """The GPU shares the host's memory (Apple silicon): no CUDA context; the engine change comes later."""
        return self.gpu is not None and self.gpu.unified_memory


class _Runtime:
    """Applies each row's engine profile and gathers what the report shows about it. With `--engine auto` the
    engine is chosen per row: llama.cpp runs GGUF types (and a GGUF file as stored), transformers the rest."""

    def __init__(self, request: EstimateRequest, arch: Architecture | None, registry: Registry,
                 gguf_source: bool = False) -> None:
        self.request, self.arch = request, arch
        # context is settled here, never in the caller's request; KV cache types are priced from this registry
        self.base = replace(request.runtime, registry=registry)
        self.gguf_source = gguf_source
        self.heuristics: dict[str, Heuristic] = {}
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.explain: list[str] = []
        self.contexts = self._contexts()
        self.base.context = self.contexts[0]
        self.row_engines: dict[str, str] = {}  # row format → engine
        self.sweeps: dict[str, tuple[tuple[int, int], ...]] = {}  # row format → (context, total)

    def engine_for(self, spec: FormatSpec | None) -> str:
        """The engine a row runs under (spec None: the as-stored row). llama.cpp on a unified-memory GPU (Apple
        silicon) is its Metal profile: no CUDA context, the GPU's share of RAM."""
        engine = self.base.engine
        if engine == AUTO_ENGINE:
            gguf = self.gguf_source if spec is None else spec.family in ("gguf_type", "gguf_mix")
            engine = "llama.cpp" if gguf else "transformers"
        if engine == "llama.cpp" and self.request.unified_memory:
            return "llama.cpp-metal"
        return engine

    def _kv_dtype(self, engine: str) -> str | None:
        """--kv-dtype for a row of this engine: an explicit engine refuses a cache type it lacks; under auto, rows
        of an engine without it keep their engine's default (and a warning says so)."""
        from vramcalc.calculator.kv import check_kv_dtype
        from vramcalc.errors import UsageError

        kv = self.base.kv_dtype
        if kv is None:
            return None
        try:
            check_kv_dtype(kv, engine, self.base.registry)
        except UsageError:
            if self.base.engine != AUTO_ENGINE:
                raise
            warning = f"--kv-dtype {kv} is not a {engine} cache type: {engine} rows keep its default"
            if warning not in self.warnings:
                self.warnings.append(warning)
            return None
        return kv

    def _contexts(self) -> list[int]:
        from vramcalc.errors import UsageError

        out: list[int] = []
        if not self.request.contexts:
            default = self.base.context
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

    def price(self, fmt: str, engine: str, weights: RowWeights) -> dict[str, Any]:
        """Price one row under its engine and gather what the report says about it; returns the row's runtime
        fields (rows are built once, from these, never patched)."""
        rt = replace(self.base, engine=engine, kv_dtype=self._kv_dtype(engine))
        sweep = tuple(self.contexts) if len(self.contexts) > 1 else ()
        priced = price_row(weights, self.arch, rt, sweep)
        est = priced.runtime
        self.row_engines[fmt] = engine
        self.sweeps[fmt] = priced.sweep
        for h in est.heuristics:
            self.heuristics[h.name] = h
        self.warnings += [w for w in est.warnings if w not in self.warnings]
        for n in est.notes:  # notes with this row's own figures (vLLM's capacity, llama.cpp's host memory) say whose
            vllm_capacity = engine == "vllm" and est.kv_capacity_tokens is not None
            row_specific = vllm_capacity or n.startswith("llama.cpp keeps")
            n = f"{fmt}: {n}" if row_specific else n
            if n not in self.notes:
                self.notes.append(n)
        if self.request.explain:
            parts = "; ".join(f"{name} {nbytes:,} B" for name, nbytes in est.parts.items())
            self.explain += [f"{fmt}: engine {est.label}" + (f" — {parts}" if parts else "")]
            self.explain += [f"{fmt}: {line}" for line in est.explain]
        if priced.gpus_exceeded:
            from vramcalc.calculator.gpu_fit import MAX_GPUS

            assert rt.gpu_memory
            self.warnings.append(f"{fmt}: more than {MAX_GPUS} GPUs of {format_bytes(rt.gpu_memory)} needed")
        split = priced.split
        if split is not None and self.request.explain:
            assert rt.gpu_memory
            util = priced.utilization
            self.explain.append(
                f"{fmt}: {split.gpus} × {format_bytes(rt.gpu_memory)} GPU(s), {split.how}: "
                f"{format_bytes(split.per_gpu_bytes)} on each (weights {est.weights_on_gpu:,} B and KV "
                f"{est.kv_cache_bytes:,} B shared out, overhead {est.overhead_bytes:,} B on every GPU"
                + (f", limit {util:g} of each" if util < 1 else "") + ")")
        return dict(
            engine=engine, kv_cache_bytes=est.kv_cache_bytes, activation_bytes=est.activation_bytes,
            overhead_bytes=est.overhead_bytes, total_bytes=est.total_bytes, host_bytes=est.host_bytes,
            kv_capacity_tokens=est.kv_capacity_tokens, max_concurrency=est.max_concurrency,
            process_bytes=est.process_bytes, weights_on_gpu_bytes=est.weights_on_gpu,
            gpus=split.gpus if split else None, per_gpu_bytes=split.per_gpu_bytes if split else None,
            gpu_split=split.how if split else None, max_context=priced.max_context,
        )

    def sweep(self, formats: list[str]) -> list[ContextPoint]:
        if len(self.contexts) < 2:
            return []
        return [ContextPoint(context=c, totals={f: dict(self.sweeps[f])[c] for f in formats if f in self.sweeps})
                for c in self.contexts]

    def _engine_note(self) -> None:
        engines: dict[str, list[str]] = {}
        for fmt, engine in self.row_engines.items():
            engines.setdefault(engine, []).append(fmt)
        if self.base.engine == AUTO_ENGINE and len(engines) > 1:
            per = "; ".join(f"{e}: {', '.join(f)}" for e, f in engines.items())
            self.notes.append(f"engine chosen per row (--engine auto): llama.cpp runs the GGUF types, transformers "
                              f"the rest — {per}; --engine sets one for every row")
        elif self.base.engine == AUTO_ENGINE and "llama.cpp" in engines:
            self.notes.append("engine llama.cpp: GGUF formats run there (--engine transformers or vllm to change)")

    def _unused_options(self, pipeline: bool) -> None:
        """Options given that no row here reads: each named in one warning, never silently dropped."""
        given = set(self.request.given_options)
        used = set(self.row_engines.values())
        for engine, profile in PROFILES.items():
            if engine in used:
                continue
            for option in profile.options:
                if option in given:
                    given.discard(option)
                    self.warnings.append(f"{option} is a {engine} option and no row here runs under {engine} "
                                         f"(engines: {', '.join(sorted(used)) or 'none'}): ignored")
        if "--resolution" in given and not pipeline:
            self.warnings.append("--resolution sizes diffusion pipelines; this model is not one: ignored")
        if pipeline:
            for option in ("--context", "--kv-dtype"):
                if option in given:
                    self.warnings.append(f"{option} does not apply to a diffusion pipeline (no KV cache): ignored")
        elif self.arch is None:
            for option in ("--gpu-layers", "--kv-dtype", "--context"):
                if option in given:
                    self.warnings.append(f"{option} needs the architecture, which a bare count does not have "
                                         "(give a config.json, checkpoint, GGUF or Hub id, or --layers, "
                                         "--kv-heads and --head-dim): ignored")

    def finish(self, report: EstimateReport, pipeline: bool = False) -> EstimateReport:
        rt = self.base
        engines = list(dict.fromkeys(self.row_engines.values()))
        report.engine = engines[0] if len(engines) == 1 else "per row"
        report.context, report.batch = rt.context, rt.batch
        report.context_given = bool(self.request.contexts)
        report.kv_dtype, report.gpu_memory = rt.kv_dtype, rt.gpu_memory
        if self.request.gpu is not None:
            report.gpu, report.gpu_count = self.request.gpu.device.name, self.request.gpu.count
            self.notes.insert(0, f"GPU memory: {self.request.gpu.describe()}")
        report.kv_cache = not pipeline and self.arch is not None and not self.arch.is_encoder
        self._engine_note()
        self._unused_options(pipeline)
        if rt.gpu_memory:
            report.best_fit = _best_fit(report.rows, rt.gpu_memory, rt.context, rt.batch, report.units,
                                        pipeline=pipeline)
            self.notes.append(report.best_fit.answer)
        report.heuristics = [_heuristic_use(h) for h in self.heuristics.values()]
        report.notes += self.notes
        report.warnings += self.warnings
        report.explain += self.explain
        return report


def _best_fit(rows: list[FormatRow], gpu_memory: int, context: int, batch: int, units: str,
              pipeline: bool = False) -> BestFit:
    """Inverse solving: the format with the most bits per weight that runs on one GPU of this size (a pipeline:
    with every component resident, else with model CPU offload); the answer in words too."""
    gpu = f"one {format_bytes(gpu_memory, units)} GPU"
    candidates = [r for r in rows if r.family != "stored"] or rows
    if pipeline:
        resident = [r for r in candidates if r.total_bytes <= gpu_memory]
        offload = [r for r in candidates if (r.offload_peak_bytes or r.total_bytes) <= gpu_memory]
        if resident:
            best = max(resident, key=lambda r: (r.bits_per_weight, -r.total_bytes))
            answer = (f"the most precise format that fits {gpu} with every component resident: {best.format} "
                      f"({format_bytes(best.total_bytes, units)})")
            more = [r for r in offload if r.bits_per_weight > best.bits_per_weight]
            offload_best = None
            if more:
                top = max(more, key=lambda r: (r.bits_per_weight, -(r.offload_peak_bytes or 0)))
                offload_best = top.format
                answer += (f"; with model CPU offload: {top.format} "
                           f"({format_bytes(top.offload_peak_bytes or 0, units)} peak)")
            return BestFit(answer=answer, format=best.format, gpus=1, with_offload=offload_best)
        if offload:
            best = max(offload, key=lambda r: (r.bits_per_weight, -(r.offload_peak_bytes or 0)))
            peak = format_bytes(best.offload_peak_bytes or 0, units)
            return BestFit(answer=f"no format here fits {gpu} with every component resident; with model CPU offload "
                                  f"(enable_model_cpu_offload) {best.format} does ({peak} peak)",
                           with_offload=best.format)
        small = min(candidates, key=lambda r: r.offload_peak_bytes or r.total_bytes)
        smallest = format_bytes(small.offload_peak_bytes or small.total_bytes, units)
        return BestFit(answer=f"no format here fits {gpu}, even with model CPU offload (the smallest, "
                              f"{small.format}, peaks at {smallest}): a smaller resolution or sequential CPU offload")
    where = f"{gpu} at {context:,} tokens × {batch}"
    single = [r for r in candidates if r.gpus == 1]
    if not single:
        counted = [r for r in candidates if r.gpus is not None]
        if counted:
            fewest = min(counted, key=lambda r: (r.gpus or 0, -r.bits_per_weight))
            return BestFit(answer=f"no format here fits {where}; the fewest GPUs: {fewest.format} on {fewest.gpus} "
                                  "(see the GPUs column), or a shorter context", format=fewest.format, gpus=fewest.gpus)
        return BestFit(answer=f"no format here fits {where}, even split over 64 GPUs")
    best = max(single, key=lambda r: (r.bits_per_weight, -r.total_bytes))
    return BestFit(answer=f"the most precise format that fits {where}: {best.format} ({best.bits_per_weight:.3g} "
                          f"bits/weight, {format_bytes(best.total_bytes, units)})", format=best.format, gpus=1)


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
    rows, explain = [], []
    runtime = _Runtime(request, request.flag_architecture, registry)
    for spec in specs:
        eff = effective_spec(spec, registry)
        nbytes = count_bytes(n, spec, registry)
        weights = RowWeights(nbytes, act_bytes=_act_bytes(float(eff.bits_per_weight)))
        rows.append(FormatRow(
            format=spec.name, family=spec.family, params=n, bits_per_weight=float(Fraction(nbytes * 8, n)),
            weight_bytes=nbytes, kept=_count_caveats(spec),
            **runtime.price(spec.name, runtime.engine_for(spec), weights),
        ))
        if request.explain:
            explain += [x for x in _explain_count(n, spec, eff, nbytes, request.units, registry) if x not in explain]
    notes = _label_notes(label, specs, rows, request.units)
    return runtime.finish(EstimateReport(
        model=ModelSummary(
            source=label.text, kind="label" if label.format_name or label.is_moe else "count",
            params=n, active_params=label.active_params, experts=label.experts,
        ),
        units=request.units,
        rows=rows, notes=notes, explain=explain, context_sweep=runtime.sweep([r.format for r in rows]),
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
    rows, explain = [], []
    chooser = tensor_chooser(inventory, registry)
    arch, arch_note = architecture_of(inventory)
    runtime = _Runtime(request, arch or request.flag_architecture, registry, gguf_source=inventory.kind == "gguf")
    pipeline = len(inventory.components) > 1
    vision_params = sum(len(alike) * alike[0].numel for alike in inventory.groups.values()
                        if classify(alike[0].name) in ("vision", "projector"))  # the class follows the pattern
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
        bits = float(effective_spec(spec, registry).bits_per_weight)
        if pipeline:
            priced = _pipeline(spec.name, {c: sum(g.total_bytes for g in plan.groups if g.tensor.component == c)
                                           for c in inventory.components}, bits, inventory, request, runtime)
        else:
            engine = runtime.engine_for(spec)
            weights = _row_weights(plan.nbytes, bits, plan.groups, engine)
            priced = runtime.price(spec.name, engine, weights)
        rows.append(FormatRow(
            format=spec.name, family=spec.family, params=plan.params,
            bits_per_weight=float(plan.bits_per_weight), weight_bytes=plan.nbytes, kept=kept, breakdown=breakdown,
            file_bytes=file_bytes, **priced,
        ))
        if request.explain:
            explain += explain_plan(plan, request.units)
            if file_bytes is not None:
                how = "exact" if gguf.metadata_exact else "estimated from the vocabulary"
                explain.append(
                    f"  GGUF file: {file_bytes:,} bytes = tensor data + header, metadata, tensor infos and "
                    f"alignment padding (metadata {how})"
                )
    dtypes: dict[str, int] = {}
    for (_, dtype, *_), alike in inventory.groups.items():
        dtypes[dtype] = dtypes.get(dtype, 0) + alike[0].numel * len(alike)
    wants_stored = not request.formats or any(is_as_stored(f) for f in request.formats)
    if inventory.kind != "config" and wants_stored:
        # What the files hold now, as the first row: the baseline every other row is compared with.
        stored = inventory.total_bytes
        stored_bits = 32.0 if set(dtypes) == {"F32"} else 16.0
        if pipeline:
            priced = _pipeline(AS_STORED, {c: sum(t.nbytes for t in inventory.tensors if t.component == c)
                                           for c in inventory.components}, stored_bits, inventory, request, runtime)
        else:
            engine = runtime.engine_for(None)
            weights = _row_weights(stored, stored_bits, [
                TensorPlan(members[0], classify(members[0].name, len(members[0].shape)), None, members[0].dtype,
                           members[0].nbytes, "", tuple(members) if len(members) > 1 else ())
                for members in inventory.groups.values()], engine)
            priced = runtime.price(AS_STORED, engine, weights)
        rows.insert(0, FormatRow(
            format=AS_STORED, family="stored", params=inventory.total_params,
            bits_per_weight=float(Fraction(stored * 8, inventory.total_params or 1)), weight_bytes=stored,
            kept=[f"as stored: {', '.join(sorted(dtypes))}"],
            file_bytes=sum(f.size for f in inventory.files) if inventory.kind == "gguf" and inventory.files else None,
            **priced,
        ))
    notes = list(inventory.warnings) + ([arch_note] if arch_note else [])
    return runtime.finish(EstimateReport(
        model=ModelSummary(
            source=inventory.source, kind=inventory.kind, params=inventory.total_params,
            active_params=active_params_of(arch, inventory), experts=arch.num_experts if arch else None,
            stored_bytes=inventory.total_bytes if inventory.kind != "config" else None, stored_dtypes=dtypes,
            architecture=architecture_summary(arch) if arch else {},
        ),
        units=request.units,
        rows=rows, notes=notes, explain=explain,
        context_sweep=[] if pipeline else runtime.sweep([r.format for r in rows]),
    ), pipeline=pipeline)


def _act_bytes(bits: float) -> int:
    """The activation dtype's bytes: an fp32 model computes in fp32, everything else in 16 bits."""
    return 4 if bits >= 32 else 2


def _row_weights(nbytes: int, bits: float, groups: list[TensorPlan], engine: str) -> RowWeights:
    """groups: the row's tensors as stored in it, alike tensors grouped."""
    largest = 0
    if engine.startswith("llama.cpp"):
        from vramcalc.calculator.activations import llamacpp_largest_tensor

        largest = llamacpp_largest_tensor(_layer_tensors(groups))
    return RowWeights(nbytes, act_bytes=_act_bytes(bits),
                      embedding_bytes=sum(g.total_bytes for g in groups if g.cls == "embeddings"),
                      output_bytes=sum(g.total_bytes for g in groups if g.cls == "lm_head"),
                      largest_tensor_bytes=largest)


def _layer_tensors(groups: list[TensorPlan]) -> Iterator[tuple[str, int]]:
    """(name, bytes) of each tensor as llama.cpp holds it: a group's per-expert matrices of one layer fused into one
    (the group's members spread evenly over its layers), any other group by its example (alike tensors, one size)."""
    for g in groups:
        if ".experts." in g.tensor.name and g.members:
            # members run layer by layer, each layer's experts together: the first layer's run is one fused tensor
            layer = g.tensor.name.split(".experts.", 1)[0] + ".experts."
            per_layer = next((i for i, m in enumerate(g.members) if not m.name.startswith(layer)), g.count)
            yield g.tensor.name, g.nbytes * per_layer
        else:
            yield g.tensor.name, g.nbytes


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


def _pipeline(fmt: str, components: dict[str, int], bits: float, inventory: Inventory,
              request: EstimateRequest, runtime: _Runtime) -> dict[str, Any]:
    """Diffusion pipelines: no KV cache; stages run one after another, all resident or one at a time (model CPU
    offload). The denoiser's activations need its hidden size, read from its config by the reader. Returns the
    row's runtime fields."""
    from vramcalc.calculator.diffusion import pipeline_memory, pipeline_shapes

    if request.resolution is None:
        from vramcalc.heuristics import DEFAULT_RESOLUTION

        runtime.heuristics[DEFAULT_RESOLUTION.name] = DEFAULT_RESOLUTION
        width = height = DEFAULT_RESOLUTION.as_int()
    else:
        width, height = request.resolution
    mem = pipeline_memory(components, height=height, width=width, batch=request.runtime.batch,
                          act_bytes=4 if bits >= 32 else 2, **pipeline_shapes(inventory.metadata))
    fields: dict[str, Any] = dict(
        components=components, kv_cache_bytes=0, host_bytes=0, activation_bytes=mem.activation_bytes,
        overhead_bytes=mem.overhead_bytes, total_bytes=mem.all_resident_bytes,
        offload_peak_bytes=mem.offload_peak_bytes, engine=PIPELINE_ENGINE)
    runtime.row_engines[fmt] = PIPELINE_ENGINE
    gpu_memory = request.runtime.gpu_memory
    if gpu_memory:
        from vramcalc.calculator.gpu_fit import pack_components

        packed = pack_components([(s.weight_bytes, s.activation_bytes) for s in mem.stages], mem.overhead_bytes,
                                 gpu_memory)
        if packed is not None:
            fields.update(gpus=packed.gpus, per_gpu_bytes=packed.per_gpu_bytes, gpu_split=packed.how)
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
        runtime.explain += [f"{fmt}: {line}" for line in mem.explain]
    return fields
