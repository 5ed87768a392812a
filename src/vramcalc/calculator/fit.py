"""Planning a model onto the GPUs someone has: for one format row under its engine, whether it fits, how (all on the
GPUs, layers split, experts or layers left in host memory), the memory each GPU ends up holding, the longest context,
the launch flags, and bounds on its speed. Pure: the caller hands over the row's weights and architecture.

Each engine plans the way it would load the model:

- llama.cpp (and llama.cpp on Metal): as llama-fit-params / `--fit on` do (llama.cpp common/fit.cpp): everything on
  the GPUs if it fits; for a MoE model the routed experts go to host memory first (`--n-cpu-moe N`, `-ot exps=CPU`),
  then whole layers (`-ngl`, the output layer and the last N − 1 layers on the GPUs); several GPUs split the layers
  (`-ts`, output layer on the last device). Memory per device is the llama.cpp profile's own model, so a plan made
  for a budget equal to a measured peak chooses that run's -ngl.
- vLLM: tensor parallel over the GPUs (heads split, KV heads replicated once TP exceeds them, vocab-parallel
  embedding and LM head, an MLA latent on every rank), pipeline parallel for what TP cannot divide; the KV cache
  takes what gpu_memory_utilization leaves on the tightest rank.
- transformers: device_map="auto" with max_memory per GPU; what does not fit goes to the CPU (accelerate's offload).

The margin is what each engine leaves free on every device by default (llama.cpp's 1024 MiB fit target, vLLM's
1 − gpu_memory_utilization, transformers' 10 %), `--margin` sets it and 0 plans to the last byte.

Speed bounds are bounds: a decode step reads every active weight and the KV cache once, so tokens/s ≤ memory
bandwidth ÷ bytes read per token; a prefill does 2 FLOPs per active weight per token plus attention, so it takes at
least FLOPs ÷ peak dense throughput. Devices a token passes through one after another (layer split, pipeline
stages) add their times; tensor-parallel ranks work at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil, floor
from typing import TYPE_CHECKING, Any

from vramcalc import heuristics as H
from vramcalc.calculator.bisect import largest, smallest
from vramcalc.calculator.engines import RowWeights, RuntimeEstimate, RuntimeRequest, runtime_memory
from vramcalc.calculator.gpu_fit import MAX_GPUS, largest_context

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.registry import Registry

MIB = 2**20
GIB = 2**30
MAX_CONTEXT_SEARCH = 1 << 20
LLAMACPP_ENGINES = ("llama.cpp", "llama.cpp-metal")


@dataclass(frozen=True)
class Device:
    """`count` GPUs of one kind: the bytes each may use (unified memory: the OS's share of RAM) and the catalog's
    figures where known (None: not in the catalog, or --gpu-memory)."""

    count: int
    usable_bytes: int
    name: str | None = None
    bandwidth_gbs: float | None = None
    bf16_tflops: float | None = None
    fp8_tflops: float | None = None
    unified: bool = False
    ram_bytes: int | None = None  # unified memory: the whole RAM


@dataclass(frozen=True)
class FitInput:
    """One format row: its weights (as the engine profiles take them) and what the speed bounds need."""

    format: str
    engine: str
    weights: RowWeights
    params: int
    active_params: int  # parameters a token runs through (MoE: the routed ones only), embeddings excluded
    low_precision: bool = False  # 8 bits or fewer: may run at the device's fp8/int8 tensor rate
    fp8: bool = False  # an fp8 format: runs at the fp8 rate where the device has one


@dataclass(frozen=True)
class FitRequest:
    context: int = 4096
    batch: int = 1
    kv_dtype: str | None = None
    flash_attention: bool = True
    n_ubatch: int = 512
    margin: int | None = None  # bytes per device; None: the engine's default
    registry: Registry | None = field(default=None, repr=False, compare=False)  # --formats: its KV cache types


@dataclass
class GpuLoad:
    """What one GPU holds under the plan."""

    weights: int = 0
    kv: int = 0
    activations: int = 0
    overhead: int = 0
    layers: int | None = None  # llama.cpp: layers on this device (the output layer counts as one)
    kv_read: int = 0  # KV bytes a decode step reads here (vLLM: the sequences at the context, not the whole pool)
    active_weights: int = 0  # weight bytes a decode step reads here (MoE: the routed share of the experts)

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.activations + self.overhead


@dataclass
class Speed:
    decode_tokens_per_s: float | None  # all sequences of the batch together
    decode_per_sequence: float | None
    bytes_per_step: int  # bytes a decode step reads, over every GPU
    per_gpu_decode: list[float]  # tokens/s each GPU alone allows for its part (one sequence)
    prefill_seconds: float | None
    prefill_flops: int
    peak_tflops: float | None
    peak_kind: str | None
    bandwidth_gbs: float | None
    gpu_part_only: bool
    formula: list[str]


@dataclass
class Launch:
    engine: str
    args: list[str]
    settings: dict[str, Any]
    text: str


@dataclass
class Plan:
    format: str
    engine: str
    fits: bool
    how: str
    margin: int
    budget: int  # per GPU: usable − margin
    loads: list[GpuLoad]
    host_bytes: int = 0
    context: int = 4096
    batch: int = 1
    max_context: int | None = None
    max_concurrency: int | None = None
    kv_capacity_tokens: int | None = None
    gpu_layers: int | None = None
    n_layers: int | None = None
    cpu_moe_layers: int | None = None
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    tensor_split: list[int] | None = None
    gpus_needed: int | None = None
    offloaded: bool = False  # part of the weights in host memory (llama.cpp's token embeddings aside)
    launch: Launch | None = None
    speed: Speed | None = None
    kv_dtype: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    explain: list[str] = field(default_factory=list)
    heuristics: list[H.Heuristic] = field(default_factory=list)

    @property
    def vram(self) -> int:
        return max((g.total for g in self.loads), default=0)

    @property
    def gpus_used(self) -> int:
        return len(self.loads)


# --------------------------------------------------------------------------------------------------- margins


def default_margin(engine: str, usable: int) -> tuple[int, H.Heuristic]:
    """What the engine leaves free on each device by default."""
    if engine in LLAMACPP_ENGINES:
        return H.LLAMACPP_FIT_MARGIN.as_int(), H.LLAMACPP_FIT_MARGIN
    if engine == "vllm":
        return usable - int(usable * H.VLLM_GPU_MEMORY_UTILIZATION.value), H.VLLM_GPU_MEMORY_UTILIZATION
    return int(usable * H.TRANSFORMERS_FIT_MARGIN.value), H.TRANSFORMERS_FIT_MARGIN


def plan_row(row: FitInput, arch: Architecture, device: Device, request: FitRequest, longest: bool = True) -> Plan:
    """The plan for one row on `device.count` GPUs, with its speed bounds (`longest`: also the longest context)."""
    from vramcalc.errors import UsageError

    if request.margin is not None:
        margin, h = request.margin, None
    else:
        margin, h = default_margin(row.engine, device.usable_bytes)
    if margin >= device.usable_bytes:
        raise UsageError(f"--margin {margin / GIB:.2f} GiB leaves nothing of {device.usable_bytes / GIB:.2f} GiB",
                         "give a smaller --margin, e.g. --margin 1GiB")
    if row.engine in LLAMACPP_ENGINES:
        plan = _llamacpp(row, arch, device, request, margin, longest)
    elif row.engine == "vllm":
        plan = _vllm(row, arch, device, request, margin, longest)
    else:
        plan = _transformers(row, arch, device, request, margin, longest)
    if h is not None and h not in plan.heuristics:
        plan.heuristics.insert(0, h)
    what = (f"the engine's default ({h.name})" if h is not None else "--margin")
    plan.explain.insert(0, f"{row.format}: margin {margin:,} B per GPU, {what}; budget = {device.usable_bytes:,} − "
                           f"{margin:,} = {plan.budget:,} B per GPU")
    plan.speed = speed_bounds(plan, row, arch, device)
    if plan.speed is not None and H.FIT_FLOPS_PER_PARAM not in plan.heuristics:
        plan.heuristics.append(H.FIT_FLOPS_PER_PARAM)
    return plan


# --------------------------------------------------------------------------------------------------- llama.cpp


def _request(row: FitInput, request: FitRequest, **kw: Any) -> RuntimeRequest:
    return RuntimeRequest(engine=row.engine, context=request.context, batch=request.batch, kv_dtype=request.kv_dtype,
                          flash_attention=request.flash_attention, n_ubatch=request.n_ubatch,
                          registry=request.registry, **kw)


def _memory(row: FitInput, arch: Architecture, rt: RuntimeRequest) -> RuntimeEstimate:
    w = row.weights
    return runtime_memory(arch, w.weight_bytes, rt, act_bytes=w.act_bytes, embedding_bytes=w.embedding_bytes,
                          output_bytes=w.output_bytes, largest_tensor_bytes=w.largest_tensor_bytes,
                          expert_bytes=w.expert_bytes)


def _partition(costs: list[int], output: int, fixed: int, devices: int, cap: int) -> list[int] | None:
    """Layers per device (contiguous, device 0 first, the output layer with the last device) so that no device
    holds more than `cap` bytes; None if they do not fit. Filled from the last device backwards."""
    counts = [0] * devices
    d, load = devices - 1, fixed + output
    if load > cap:
        return None
    for cost in reversed(costs):
        while load + cost > cap:
            d -= 1
            if d < 0:
                return None
            load = fixed
        counts[d] += 1
        load += cost
    return counts


def _balanced(costs: list[int], output: int, fixed: int, devices: int, cap: int) -> list[int] | None:
    """The contiguous split whose fullest device holds the least (bisection on the cap), within `cap`."""
    if _partition(costs, output, fixed, devices, cap) is None:
        return None
    lo, hi = fixed + output - 1, cap  # infeasible, feasible
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _partition(costs, output, fixed, devices, mid) is None:
            lo = mid
        else:
            hi = mid
    return _partition(costs, output, fixed, devices, hi)


def _llamacpp(row: FitInput, arch: Architecture, dev: Device, req: FitRequest, margin: int, longest: bool) -> Plan:
    from vramcalc.calculator.engines.llamacpp import layer_costs

    n = arch.num_layers
    budget = dev.usable_bytes - margin
    moe = bool(arch.is_moe and row.weights.expert_bytes)
    g = dev.count

    def estimate(ngl: int, cpu_moe: int, context: int | None = None) -> RuntimeEstimate:
        r = _request(row, req, gpu_layers=ngl, cpu_moe_layers=cpu_moe)
        return _memory(row, arch, replace(r, context=context) if context else r)

    def loads(est: RuntimeEstimate, ngl: int, cpu_moe: int, cap: int) -> list[GpuLoad] | None:
        fixed = est.activation_bytes + est.overhead_bytes
        if g == 1:
            if est.total_bytes > cap:
                return None
            return [GpuLoad(est.weights_on_gpu, est.kv_cache_bytes, est.activation_bytes, est.overhead_bytes,
                            layers=ngl)]
        costs, output = layer_costs(arch, row.weights, _request(row, req, gpu_layers=ngl, cpu_moe_layers=cpu_moe),
                                    est)
        counts = _balanced([c.weights + c.kv for c in costs], output, fixed, g, cap)
        if counts is None:
            return None
        out, i = [], 0
        for d, c in enumerate(counts):
            part = costs[i:i + c]
            i += c
            last = d == g - 1
            out.append(GpuLoad(sum(p.weights for p in part) + (output if last else 0), sum(p.kv for p in part),
                               est.activation_bytes, est.overhead_bytes, layers=c + (1 if last and ngl else 0)))
        return out

    def fits(ngl: int, cpu_moe: int) -> bool:
        return loads(estimate(ngl, cpu_moe), ngl, cpu_moe, budget) is not None

    full = n + 1
    cpu_moe, ngl, how = 0, full, "all on the GPU" if g == 1 else f"layers split over {g} GPUs"
    ok = fits(full, 0)
    if not ok and moe:
        # the routed experts go to host memory first, layer by layer from the first (as --n-cpu-moe N)
        first = smallest(lambda k: fits(full, k), 1, n)
        if first is not None:
            ok, cpu_moe = True, first
            how = f"experts of {_moe_layers(arch, first)} layer(s) in host memory"
        else:
            cpu_moe = n
    if not ok:
        best = largest(lambda k: fits(k, cpu_moe), 0, n)
        if best is not None:
            ok, ngl = True, best
            how = (f"{n - max(0, best - 1)} of {n} layers in host memory"
                   + (", every layer's experts too" if cpu_moe else ""))
        else:
            ngl = 0
    est = estimate(ngl, cpu_moe)
    placed = loads(est, ngl, cpu_moe, budget) if ok else None
    if placed is None:  # shown as it would be with everything on the GPUs
        placed = loads(est, ngl, cpu_moe, 1 << 62) or []
        how = "does not fit, not even with every layer in host memory"
    plan = Plan(row.format, row.engine, ok, how, margin, budget, placed, host_bytes=est.host_bytes,
                context=req.context, batch=req.batch, gpu_layers=ngl, n_layers=full,
                cpu_moe_layers=cpu_moe if moe else None, kv_dtype=est.kv_dtype, offloaded=ngl < full or cpu_moe > 0)
    plan.heuristics += [h for h in est.heuristics if h not in plan.heuristics]
    if g > 1 and placed:
        plan.tensor_split = [p.layers or 0 for p in placed]
    if ok and longest:
        def context_fits(c: int) -> bool:
            e = estimate(ngl, cpu_moe, c)
            return loads(e, ngl, cpu_moe, budget) is not None

        plan.max_context = largest_context(context_fits, int(arch.max_context or MAX_CONTEXT_SEARCH))
    plan.launch = _llamacpp_flags(plan, arch, req, g, moe)
    parts = "; ".join(f"{k} {v:,} B" for k, v in est.parts.items())
    plan.explain.append(f"{row.format}: {row.engine} at -ngl {ngl}" + (f", --n-cpu-moe {cpu_moe}" if cpu_moe else "")
                        + f": weights on the GPUs {est.weights_on_gpu:,} B, KV {est.kv_cache_bytes:,} B, compute "
                          f"{est.activation_bytes:,} B, overhead {est.overhead_bytes:,} B per GPU — {parts}")
    plan.explain += [f"{row.format}: {line}" for line in est.explain]
    if g > 1:
        plan.explain.append(f"{row.format}: -ts {','.join(map(str, plan.tensor_split or []))}: contiguous layers per "
                            "GPU (the output layer with the last), the fullest GPU as empty as the split allows; each "
                            "GPU has its own CUDA context and compute buffer")
    if not ok:
        plan.warnings.append(f"{row.format}: does not fit {dev.count} × {budget / GIB:.2f} GiB (after the margin), "
                             "not even with every layer in host memory (the CUDA context and compute buffer alone "
                             f"need {(est.activation_bytes + est.overhead_bytes) / GIB:.2f} GiB)")
    if ok and ngl < full and g == 1 and not dev.unified:
        plan.notes.append(f"{row.format}: {n - max(0, ngl - 1)} of {n} layers stay in host memory: llama.cpp runs "
                          "their matmuls on the GPU during prompt processing (op offload, the weights copied over "
                          "PCIe) and on the CPU while generating")
    return plan


def _moe_layers(arch: Architecture, cpu_moe: int) -> int:
    return max(0, min(cpu_moe, arch.num_layers) - arch.first_dense_layers)


def _llamacpp_flags(plan: Plan, arch: Architecture, req: FitRequest, g: int, moe: bool) -> Launch:
    n_ctx = req.context * req.batch
    args = ["-ngl", str(plan.gpu_layers), "-c", str(n_ctx), "-fa", "on" if req.flash_attention else "off"]
    settings: dict[str, Any] = {"n_gpu_layers": plan.gpu_layers, "n_ctx": n_ctx,
                                "flash_attn": "on" if req.flash_attention else "off"}
    if req.batch > 1:
        args += ["-np", str(req.batch)]
        settings["n_parallel"] = req.batch
    cpu_moe = plan.cpu_moe_layers or 0
    if moe and cpu_moe:
        if cpu_moe >= arch.num_layers:
            args += ["-ot", "exps=CPU"]
            settings["override_tensor"] = "exps=CPU"
        else:
            args += ["--n-cpu-moe", str(cpu_moe)]
            settings["n_cpu_moe"] = cpu_moe
    if plan.tensor_split:
        args += ["-ts", ",".join(map(str, plan.tensor_split))]
        settings["tensor_split"] = plan.tensor_split
    if req.n_ubatch != RuntimeRequest.n_ubatch:
        args += ["-ub", str(req.n_ubatch)]
        settings["n_ubatch"] = req.n_ubatch
    if plan.kv_dtype and plan.kv_dtype != "f16":
        args += ["-ctk", plan.kv_dtype, "-ctv", plan.kv_dtype]
        settings["cache_type_k"] = settings["cache_type_v"] = plan.kv_dtype
    return Launch(plan.engine, args, settings, "llama-server -m MODEL.gguf " + " ".join(args))


# --------------------------------------------------------------------------------------------------- vLLM


def pp_layers(layers: int, pp: int) -> list[int]:
    """Layers per pipeline stage as vLLM assigns them (vllm/distributed/utils.py get_pp_indices): an even share,
    the remainder one each to the stages before the last."""
    counts = [layers // pp] * pp
    for i in range(2, layers % pp + 2):
        counts[-i] += 1
    return counts


def parallel_degrees(arch: Architecture, count: int) -> tuple[int, int] | None:
    """(tensor parallel, pipeline parallel) for `count` GPUs: the largest TP that divides the GPUs, the attention
    heads, the MLP widths and (or is a multiple of) the KV heads; the rest pipeline parallel. None: no split works."""
    first = arch.layers[0] if arch.layers else None
    heads = first.num_heads if first else 1
    kv = min((a.num_kv_heads for a in arch.layers if a.num_kv_heads), default=1)
    widths = [w for w in (arch.intermediate_size, arch.moe_intermediate_size) if w]
    for tp in range(count, 0, -1):
        if count % tp or heads % tp or any(w % tp for w in widths):
            continue
        if not (arch.is_mla or kv % tp == 0 or tp % kv == 0):
            continue
        pp = count // tp
        if pp <= arch.num_layers:
            return tp, pp
    return None


def _vllm_kv_share(arch: Architecture, tp: int) -> float:
    if arch.is_mla:
        return 1.0  # one latent per token, on every rank
    kv = min((a.num_kv_heads for a in arch.layers if a.num_kv_heads), default=1)
    return max(1, kv // tp) / kv if kv >= tp else 1 / kv


def _vllm(row: FitInput, arch: Architecture, dev: Device, req: FitRequest, margin: int, longest: bool) -> Plan:
    from vramcalc.calculator.kv import VLLM_BLOCK, kv_bytes_per_token, kv_cache_bytes

    usable = dev.usable_bytes
    # as passed on the command line, 4 decimals, never above the margin asked for (1e-6: the default's own rounding)
    util = floor((usable - margin) / usable * 10_000 + 1e-6) / 10_000
    budget = int(usable * util)
    rt = _request(row, req, gpu_memory=usable, gpu_memory_utilization=util)
    rt.n_ubatch = RuntimeRequest.n_ubatch
    est = _memory(row, arch, rt)
    non_torch, graphs = est.parts.get("non_torch_memory", 0), est.parts.get("cuda_graphs", 0)
    kv_dtype = est.kv_dtype or "bf16"
    mnbt = H.VLLM_MAX_NUM_BATCHED_TOKENS.as_int()
    per_token = float(kv_bytes_per_token(arch, kv_dtype, "vllm", registry=req.registry))
    w = row.weights
    tied = w.output_bytes == 0 and w.embedding_bytes > 0
    head = w.embedding_bytes if tied else w.output_bytes
    repeating = w.weight_bytes - w.embedding_bytes - w.output_bytes
    L = arch.num_layers

    def ranks(count: int, context: int) -> tuple[list[GpuLoad], list[int], int, int] | None:
        """Per-rank loads (KV = the pool vLLM allocates), free bytes, per-sequence KV per rank — the tightest
        rank — and TP/PP; None if no split of `count` works."""
        degrees = parallel_degrees(arch, count)
        if degrees is None:
            return None
        tp, pp = degrees
        share = _vllm_kv_share(arch, tp)
        seq = kv_cache_bytes(arch, context, 1, kv_dtype, "vllm", max_num_batched_tokens=mnbt,
                             registry=req.registry)
        out, free = [], []
        for s, layers in enumerate(pp_layers(L, pp)):
            weights = ceil(repeating * layers / L / tp)
            if s == 0:
                weights += ceil(w.embedding_bytes / tp)
            if s == pp - 1 and (pp > 1 or not tied):
                weights += ceil(head / tp)
            act = ceil(est.activation_bytes / tp)
            f = budget - weights - act - non_torch
            seq_rank = ceil(seq * layers / L * share)
            for _ in range(tp):
                out.append(GpuLoad(weights, max(0, f), act, non_torch + graphs,
                                   kv_read=seq_rank * req.batch, active_weights=weights))
                free.append(f)
        return out, free, tp, pp

    g = dev.count
    r = ranks(g, req.context)
    plan = Plan(row.format, row.engine, False, "", margin, budget, [], context=req.context, batch=req.batch,
                kv_dtype=kv_dtype)
    plan.heuristics += [h for h in est.heuristics if h not in plan.heuristics]
    if r is None:
        plan.how = f"no tensor × pipeline split of {g} GPUs fits the heads and layers"
        plan.warnings.append(f"{row.format}: vLLM cannot split this model over {g} GPUs (tensor parallel must divide "
                             "the attention heads and the MLP width, pipeline parallel the layers)")
        plan.launch = Launch("vllm", [], {}, "")
        return plan
    loads_, free, tp, pp = r
    plan.loads, plan.tensor_parallel, plan.pipeline_parallel = loads_, tp, pp
    tightest = min(range(len(free)), key=lambda i: free[i] / max(1, loads_[i].kv_read or 1))
    per_token_rank = per_token * _vllm_kv_share(arch, tp) * max(pp_layers(L, pp)) / L
    min_free = min(free)
    plan.kv_capacity_tokens = (int(min_free / per_token_rank) // VLLM_BLOCK * VLLM_BLOCK
                               if min_free > 0 and per_token_rank else 0)
    plan.max_concurrency = max(0, _sequences(free, loads_, req.batch))
    plan.fits = plan.max_concurrency >= req.batch
    split = ("one GPU" if g == 1 else
             f"tensor parallel {tp}" + (f" × pipeline parallel {pp}" if pp > 1 else "") if tp > 1 else
             f"pipeline parallel {pp}")
    plan.how = split if plan.fits else f"does not fit ({split})"
    if plan.fits and longest:
        plan.max_context = largest_context(lambda c: _sequences(*_free_loads(ranks(g, c)), req.batch) >= req.batch,
                                           int(arch.max_context or MAX_CONTEXT_SEARCH))
    elif not plan.fits and longest:
        plan.gpus_needed = next((k for k in range(g + 1, MAX_GPUS + 1)
                                 if _sequences(*_free_loads(ranks(k, req.context)), req.batch) >= req.batch), None)
        need = (f"{plan.gpus_needed} GPUs of this size would" if plan.gpus_needed else
                f"not even {MAX_GPUS} GPUs of this size would")
        plan.warnings.append(f"{row.format}: vLLM has no room for {req.batch} sequence(s) of {req.context:,} tokens "
                             f"on {g} × {budget / GIB:.2f} GiB (gpu_memory_utilization {util:g}); {need}")
    if margin < graphs:
        plan.warnings.append(f"{row.format}: vLLM captures CUDA graphs (~{graphs / GIB:.2f} GiB) after it sizes the "
                             f"KV cache, outside gpu_memory_utilization; a margin of {margin / GIB:.2f} GiB leaves "
                             "them no room (add --enforce-eager, or a larger margin)")
    plan.explain.append(
        f"{row.format}: vLLM TP {tp} × PP {pp}: per rank weights = repeating {repeating:,} B × stage layers / {L} / "
        f"TP (+ embedding / TP on the first stage, LM head / TP on the last), activations {est.activation_bytes:,} "
        f"B / TP, non-torch {non_torch:,} B; KV per token {per_token:,.0f} B × "
        f"{'1 (MLA latent on every rank)' if arch.is_mla else f'{_vllm_kv_share(arch, tp):.4g} (KV heads per rank)'}"
        f" × stage layers / {L}; free = {util:g} × {usable:,} − the rest = {min_free:,} B on the tightest rank "
        f"(#{tightest}) → {plan.kv_capacity_tokens:,} tokens, {plan.max_concurrency} sequences of {req.context:,}")
    args = ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp), "--max-model-len",
            str(req.context), "--gpu-memory-utilization", f"{util:g}", "--kv-cache-dtype",
            "auto" if req.kv_dtype is None else kv_dtype]
    settings: dict[str, Any] = {"tensor_parallel_size": tp, "pipeline_parallel_size": pp,
                                "max_model_len": req.context, "gpu_memory_utilization": util,
                                "kv_cache_dtype": "auto" if req.kv_dtype is None else kv_dtype}
    if req.batch > 1:
        args += ["--max-num-seqs", str(req.batch)]
        settings["max_num_seqs"] = req.batch
    plan.launch = Launch("vllm", args, settings, "vllm serve MODEL " + " ".join(args))
    return plan


def _free_loads(r: tuple[list[GpuLoad], list[int], int, int] | None) -> tuple[list[int], list[GpuLoad]]:
    if r is None:
        return [], []
    return r[1], r[0]


def _sequences(free: list[int], loads: list[GpuLoad], batch: int) -> int:
    """Sequences of the context the tightest rank's KV space holds (kv_read is batch × one sequence's KV there)."""
    if not free:
        return -1
    out = []
    for f, g in zip(free, loads, strict=True):
        seq = g.kv_read // batch if batch else 0
        out.append((f // seq if seq else 1 << 30) if f > 0 else 0)
    return min(out)


# --------------------------------------------------------------------------------------------------- transformers


def _transformers(row: FitInput, arch: Architecture, dev: Device, req: FitRequest, margin: int,
                  longest: bool) -> Plan:
    g = dev.count
    budget = dev.usable_bytes - margin

    def estimate(context: int) -> RuntimeEstimate:
        return _memory(row, arch, replace(_request(row, req), context=context))

    est = estimate(req.context)
    W = row.weights.weight_bytes
    fixed = est.activation_bytes + est.overhead_bytes
    kv_each = -(-est.kv_cache_bytes // g)
    room = budget - fixed - kv_each  # weights each GPU may take
    plan = Plan(row.format, row.engine, False, "", margin, budget, [], context=req.context, batch=req.batch,
                kv_dtype=est.kv_dtype)
    plan.heuristics += [h for h in est.heuristics if h not in plan.heuristics]
    layer = _largest_layer_bytes(row, arch)
    if room * g >= W:
        per = -(-W // g)
        plan.fits, plan.how = True, "all on the GPU" if g == 1 else f"layers split over {g} GPUs"
        on_gpu = [per] * (g - 1) + [W - per * (g - 1)]
    else:
        # accelerate's CPU offload: the rest of the weights in host memory, each offloaded layer copied to the GPU
        # when it runs (so GPU 0 keeps room for one); the KV cache and activations stay on the GPUs
        room0 = room - layer
        if room0 <= 0 or room * g - layer <= 0:
            plan.how = "does not fit, not even with the weights in host memory"
            on_gpu = [0] * g
            plan.warnings.append(f"{row.format}: KV, activations and overhead alone exceed {budget / GIB:.2f} GiB per "
                                 "GPU after the margin")
        else:
            plan.fits = plan.offloaded = True
            on_gpu = [room0] + [room] * (g - 1)
            plan.host_bytes = W - sum(on_gpu)
            plan.how = f"{plan.host_bytes / W:.0%} of the weights in host memory (accelerate offload)"
            plan.notes.append(f"{row.format}: device_map=\"auto\" offloads {plan.host_bytes / 1e9:.2f} GB of weights "
                              "to the CPU; each offloaded layer is copied to the GPU when it runs — correct but slow")
    streamed = [layer if (plan.host_bytes and d == 0) else 0 for d in range(g)]
    plan.loads = [GpuLoad(on_gpu[d] + streamed[d], kv_each, est.activation_bytes, est.overhead_bytes,
                          kv_read=kv_each, active_weights=on_gpu[d]) for d in range(g)]
    if plan.fits and longest:
        weights_cap = max(on_gpu) + max(streamed)

        def context_fits(c: int) -> bool:
            e = estimate(c)
            return weights_cap + -(-e.kv_cache_bytes // g) + e.activation_bytes + e.overhead_bytes <= budget

        plan.max_context = largest_context(context_fits, int(arch.max_context or MAX_CONTEXT_SEARCH))
    plan.explain.append(
        f"{row.format}: transformers device_map=\"auto\": per GPU weights ≤ budget − activations "
        f"{est.activation_bytes:,} − overhead {est.overhead_bytes:,} − KV {est.kv_cache_bytes:,} / {g} = {room:,} B"
        + (f"; the largest layer ({layer:,} B) streamed through GPU 0" if plan.host_bytes else ""))
    # accelerate places weights up to max_memory per GPU: the room left beside the KV, activations and overhead
    caps = [room - (layer if plan.host_bytes and d == 0 else 0) for d in range(g)]
    max_memory = {str(d): _gib_text(max(0, caps[d])) for d in range(g)}
    if plan.host_bytes:
        max_memory["cpu"] = _gib_text(plan.host_bytes, up=True)
    settings: dict[str, Any] = {"device_map": "auto", "max_memory": max_memory}
    text = ", ".join(f"{k if k == 'cpu' else int(k)!r}: {v!r}" for k, v in max_memory.items())
    plan.launch = Launch("transformers", [], settings,
                         f"AutoModelForCausalLM.from_pretrained(MODEL, device_map=\"auto\", max_memory={{{text}}})")
    return plan


def _gib_text(n: int, up: bool = False) -> str:
    x = n / GIB
    x = ceil(x * 100) / 100 if up else floor(x * 100) / 100
    return f"{x:.2f}GiB"


def _largest_layer_bytes(row: FitInput, arch: Architecture) -> int:
    w = row.weights
    repeating = w.weight_bytes - w.embedding_bytes - w.output_bytes
    return -(-repeating // max(1, arch.num_layers))


# --------------------------------------------------------------------------------------------------- speed


def prefill_flops(arch: Architecture, active_params: int, context: int, batch: int = 1) -> int:
    """FLOPs of a prefill of `context` tokens per sequence: 2 per active weight per token, and causal attention's
    2 × c² × heads × head_dim per layer (a sliding window of w: 4 × c × min(w, c/2) × heads × head_dim)."""
    per_param = H.FIT_FLOPS_PER_PARAM.value
    attn = 0.0
    for a in arch.layers:
        if a.kind in ("mamba", "linear", "none"):
            continue
        d = a.num_heads * a.head_dim
        if a.kind in ("sliding", "chunked") and a.window:
            attn += 4 * context * min(a.window, context / 2) * d
        elif a.kind == "encoder":
            attn += 4 * context * context * d
        else:
            attn += 2 * context * context * d
    return int((per_param * active_params * context + attn) * batch)


def speed_bounds(plan: Plan, row: FitInput, arch: Architecture, dev: Device) -> Speed | None:
    """Upper bound on decode tokens/s and lower bound on prefill time, from the catalog's bandwidth and peak dense
    throughput; None when the catalog has neither (or nothing is on the GPUs)."""
    if not plan.loads or not any(g.total for g in plan.loads) or (dev.bandwidth_gbs is None
                                                                   and dev.bf16_tflops is None):
        return None
    bw = dev.bandwidth_gbs
    held = sum(g.weights for g in plan.loads)
    read = _weights_read(plan, row, arch, held)
    reads = [int(g.weights * read / held if held else 0) + (g.kv_read or g.kv) for g in plan.loads]
    # devices a token passes one after another: layer split, pipeline stages; tensor-parallel ranks at once
    stages = plan.pipeline_parallel or 1
    tp = plan.tensor_parallel or 1
    if plan.engine == "vllm":
        stage_reads = [max(reads[s * tp:(s + 1) * tp]) for s in range(stages)]
    else:
        stage_reads = reads
    step = sum(stage_reads)
    host = plan.host_bytes > 0 and plan.engine not in ("vllm",) and (plan.gpu_layers is None or
                                                                       plan.gpu_layers < (plan.n_layers or 0)
                                                                       or bool(plan.cpu_moe_layers))
    if plan.engine == "transformers":
        host = plan.host_bytes > 0
    formula = []
    decode = per_seq = None
    per_gpu: list[float] = []
    if bw and step:
        per_gpu = [bw * 1e9 / r for r in reads if r]
        decode = bw * 1e9 / step * plan.batch
        per_seq = bw * 1e9 / step
        formula.append(
            f"decode ≤ bandwidth ÷ bytes read per step = {bw:g} GB/s ÷ {step:,} B = {per_seq:,.1f} tokens/s per "
            f"sequence" + (f" × {plan.batch} sequences" if plan.batch > 1 else "")
            + f" (weights read per token: {read:,} B of the {held:,} B on the GPUs — the token embeddings are a "
              "lookup and only the routed experts run — plus the KV of the context"
            + ("; devices one after another add their times" if len(stage_reads) > 1 else "") + ")")
    peak, kind = _peak(row, dev)
    flops = prefill_flops(arch, row.active_params, plan.context, plan.batch)
    seconds = None
    if peak:
        seconds = flops / (peak * 1e12 * tp)
        formula.append(
            f"prefill ≥ FLOPs ÷ peak = (2 × {row.active_params:,} active weights × {plan.context:,} tokens + causal "
            f"attention) × {plan.batch} = {flops:,.4g} FLOPs ÷ ({peak:g} TFLOPS {kind}"
            + (f" × {tp} tensor-parallel GPUs" if tp > 1 else "") + f") = {seconds:,.3g} s")
    if host:
        formula.append("GPU part only: the weights in host memory run at the CPU's memory bandwidth (not in the "
                       "catalog), so the real figures are lower still")
    return Speed(decode, per_seq, step, per_gpu, seconds, flops, peak, kind, bw, host, formula)


def _weights_read(plan: Plan, row: FitInput, arch: Architecture, held: int) -> int:
    """Weight bytes on the GPUs a decode step reads: all they hold but the token-embedding table (a lookup; llama.cpp
    keeps it in host memory anyway) and, of a MoE model's routed experts on the GPUs, all but the experts_per_token
    of num_experts each token is routed to (a bound: a batch may touch more)."""
    w = row.weights
    emb = 0 if plan.engine in LLAMACPP_ENGINES or not held else min(w.embedding_bytes, held)
    experts = 0
    if arch.is_moe and w.expert_bytes and arch.num_experts and arch.experts_per_token:
        if plan.engine in LLAMACPP_ENGINES:
            moe = [i for i in range(arch.num_layers) if i >= arch.first_dense_layers]
            first_on_gpu = arch.num_layers - max(0, (plan.gpu_layers or 0) - 1)
            cpu_moe = plan.cpu_moe_layers or 0
            experts = w.expert_bytes // len(moe) * sum(1 for i in moe if i >= first_on_gpu and i >= cpu_moe)
        else:
            experts = w.expert_bytes * min(held, w.weight_bytes) // max(1, w.weight_bytes)
        experts = int(experts * (1 - arch.experts_per_token / arch.num_experts))
    return max(0, held - emb - experts)


def _peak(row: FitInput, dev: Device) -> tuple[float | None, str | None]:
    """The dense throughput a row can run at: fp8 formats at the fp8 rate; llama.cpp's quantized types at the
    fastest ≥ 8-bit rate the catalog gives (its integer kernels may run at the int8/fp8 tensor rate); the rest at
    bf16. A bound must not use a rate below the one the kernels reach."""
    if row.fp8 and dev.fp8_tflops:
        return dev.fp8_tflops, "fp8"
    if row.low_precision and row.engine in LLAMACPP_ENGINES and dev.fp8_tflops:
        return max(dev.fp8_tflops, dev.bf16_tflops or 0), "fp8/int8"
    if dev.bf16_tflops:
        return dev.bf16_tflops, "bf16"
    return None, None
