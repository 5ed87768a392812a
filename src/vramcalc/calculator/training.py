"""GPU memory of one training step (forward, backward, optimizer step) of a causal language model.

Pure: a parameter list (names and shapes, as an inventory holds them), the architecture and a TrainRequest in; a
TrainEstimate out. The memory is walked from the mechanism, term by term (heuristics.py, "training"):

- model states: the weights as the GPU holds them (fp32 master under autocast, NF4 for a QLoRA base), gradients
  of what trains, optimizer states from the optimizer's real layout (calculator/optimizers.py), each divided over
  the GPUs as ZeRO / FSDP shard them, or moved to host memory when offloaded;
- activations saved for backward, per decoder layer: what autograd keeps for RMSNorm, each Linear's input (shared
  or copied per dtype), sdpa (flash: q, k, v, output, logsumexp; fp32 with grouped KV heads: the math path's
  probabilities), the MLP's intermediates — or only each layer's input with gradient checkpointing;
- the logits and the loss: transformers upcasts the logits to fp32 over every position and cross-entropy's
  backward holds three tokens × vocab fp32 tensors;
- the optimizer step's temporaries (torch's foreach AdamW: one copy of the parameters);
- the phases: the peak is the largest of forward (end of the loss), backward (at the loss's backward, or at its
  end when every gradient exists) and the optimizer step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING, Literal

from vramcalc import heuristics as H
from vramcalc.calculator.optimizers import OPTIMIZERS, OptimizerSpec, paged_bytes, state_bytes
from vramcalc.errors import UsageError

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture, Attention
    from vramcalc.models import Family

Method = Literal["full", "lora", "qlora"]
Precision = Literal["fp32", "amp-bf16", "amp-fp16", "bf16", "fp16"]
METHODS: tuple[str, ...] = ("full", "lora", "qlora")
PRECISIONS: tuple[str, ...] = ("fp32", "amp-bf16", "amp-fp16", "bf16", "fp16")
FSDP_MODES: tuple[str, ...] = ("full", "shard-grad-op")
ALL_LINEAR = "all-linear"
PHASES: tuple[str, ...] = ("forward", "backward", "optimizer step")


@dataclass(frozen=True)
class TrainRequest:
    method: str = "full"
    precision: str = "amp-bf16"
    optimizer: str = "adamw"
    seq_len: int = 2048
    batch: int = 1
    grad_accum: int = 1
    checkpointing: bool = False
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = (ALL_LINEAR,)
    gpus: int = 1
    zero: int | None = None
    fsdp: str | None = None
    offload_optimizer: bool = False
    offload_params: bool = False

    @property
    def tokens(self) -> int:
        return self.batch * self.seq_len


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class LinearModule:
    """A module peft can adapt: an nn.Linear (or GPT-2's Conv1D) found from its weight's name and shape."""

    name: str  # module path, e.g. model.layers.3.self_attn.q_proj
    in_features: int
    out_features: int
    numel: int
    layer: int | None  # decoder layer index, None outside the layers (lm_head, vision tower …)
    is_output: bool  # the LM head: all-linear leaves it out


@dataclass
class Term:
    """One named quantity of the estimate: bytes per GPU and the arithmetic behind it."""

    name: str
    nbytes: int
    formula: str


@dataclass
class TrainEstimate:
    request: TrainRequest
    optimizer: OptimizerSpec
    params: int
    trainable: int
    lora_modules: int
    terms: dict[str, Term]
    phases: dict[str, dict[str, int]]  # phase → term name → bytes live at that phase's peak
    peak_phase: str
    peak_allocated_bytes: int
    allocator_slack_bytes: int
    cuda_context_bytes: int
    host_bytes: int  # per GPU process (offloaded states/parameters)
    paged_bytes: int  # bitsandbytes paged states: GPU memory outside torch's allocator, evictable to host
    heuristics: list[H.Heuristic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def peak_reserved_bytes(self) -> int:
        return self.peak_allocated_bytes + self.allocator_slack_bytes

    @property
    def total_bytes(self) -> int:
        """What the process holds on each GPU: torch's reserve, the paged states, the CUDA context."""
        return self.peak_reserved_bytes + self.paged_bytes + self.cuda_context_bytes

    def explain(self) -> list[str]:
        lines = [f"{t.name}: {t.formula} = {t.nbytes:,} B" for t in self.terms.values() if t.nbytes]
        lines.append(f"optimizer: {self.optimizer.implementation} — {self.optimizer.source}")
        for phase in PHASES:
            parts = self.phases[phase]
            live = " + ".join(f"{k} {v:,}" for k, v in parts.items() if v)
            mark = "  ← peak" if phase == self.peak_phase else ""
            lines.append(f"{phase}: {live} = {sum(parts.values()):,} B{mark}")
        return lines


# --------------------------------------------------------------------------- what trains: LoRA targets


# Module names that read the attention's input, write its output, read the MLP's input, write its output.
_ATTN_IN = frozenset({"q_proj", "k_proj", "v_proj", "qkv_proj", "c_attn", "query_key_value", "Wqkv", "q_a_proj",
                      "kv_a_proj_with_mqa", "query", "key", "value", "q_b_proj", "kv_b_proj"})
_ATTN_OUT = frozenset({"o_proj", "out_proj", "dense"})
_MLP_IN = frozenset({"gate_proj", "up_proj", "gate_up_proj", "fc1", "c_fc", "w1", "w3", "dense_h_to_4h"})
_MLP_OUT = frozenset({"down_proj", "fc2", "w2", "dense_4h_to_h"})
_EMBEDDING_NAMES = ("embed_tokens", "wte", "wpe", "word_embeddings", "embed_in", "tok_embeddings",
                    "position_embeddings", "embed_positions")


def _layer_index(name: str) -> int | None:
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part in ("layers", "h", "layer", "blocks") and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


def linear_modules(params: list[Param]) -> list[LinearModule]:
    """The nn.Linear modules of a model, from its 2-D `*.weight` tensors (embeddings and norms are not Linear;
    routed experts are fused 3-D parameters in transformers ≥ 5, not modules, however a checkpoint stores them)."""
    out: list[LinearModule] = []
    for p in params:
        if len(p.shape) != 2 or not p.name.endswith(".weight"):
            continue
        module = p.name[: -len(".weight")]
        if any(e in module.split(".")[-1] for e in _EMBEDDING_NAMES) or "norm" in module.split(".")[-1]:
            continue
        if ".experts." in module:  # transformers ≥ 5 fuses routed experts into 3-D parameters: no nn.Linear
            continue
        is_output = module.split(".")[-1] in ("lm_head", "embed_out") or module == "output"
        out.append(LinearModule(module, p.shape[1], p.shape[0], p.numel, _layer_index(module), is_output))
    return out


def match_targets(modules: list[LinearModule], targets: tuple[str, ...]) -> list[LinearModule]:
    """peft's rule (tuners_utils.check_target_module_exists): a module matches a name when its path is that name or
    ends with '.' + name; `all-linear` takes every Linear but the output layer."""
    chosen: list[LinearModule] = []
    for m in modules:
        if ALL_LINEAR in targets and not m.is_output:
            chosen.append(m)
        elif any(m.name == t or m.name.endswith("." + t) for t in targets if t != ALL_LINEAR):
            chosen.append(m)
    return chosen


def module_kinds(modules: list[LinearModule]) -> list[str]:
    """Distinct last names of the Linear modules, in model order (what `--lora-targets` can name)."""
    seen: dict[str, None] = {}
    for m in modules:
        seen.setdefault(m.name.split(".")[-1], None)
    return list(seen)


def lora_params(modules: list[LinearModule], rank: int) -> int:
    """peft LoRA adds lora_A (rank × in) and lora_B (out × rank) to each target."""
    return sum(rank * (m.in_features + m.out_features) for m in modules)


# --------------------------------------------------------------------------- dtypes of a run


@dataclass(frozen=True)
class _Dtypes:
    weight: int  # bytes per element of the model's (trainable) weights on the GPU
    stream: int  # residual stream (embedding output)
    compute: int  # matmul / sdpa
    autocast: bool
    master: int  # DeepSpeed's fp32 master copy per trainable element (0: none)
    grad: int


def _dtypes(r: TrainRequest) -> _Dtypes:
    half = r.precision in ("bf16", "fp16", "amp-bf16", "amp-fp16")
    amp = r.precision.startswith("amp-")
    if r.method == "qlora":
        return _Dtypes(2, 2, 2, False, 0, H.TRAIN_LORA_ADAPTER_BYTES.as_int())
    if r.zero and amp:
        # DeepSpeed bf16/fp16 runs the model in half precision (no autocast): half weights and grads, an fp32 master
        # copy beside the optimizer states (ZeRO paper: 2 + 2 + 12 bytes per parameter with Adam)
        return _Dtypes(2, 2, 2, False, 4, 2)
    if r.fsdp and amp:
        # FSDP MixedPrecision(param_dtype=half): fp32 shards (the master), gathered and computed in half, fp32 grads
        return _Dtypes(4, 2, 2, False, 0, 4)
    if amp:
        return _Dtypes(4, 4, 2, True, 0, 4)
    b = 2 if half else 4
    return _Dtypes(b, b, b, False, 4 if (r.zero and half) else 0, b)


# --------------------------------------------------------------------------- activations saved for backward


_PYTHON_ACTS = frozenset({"gelu_new", "gelu_fast", "quick_gelu"})


def _norm_saved(family: Family, width: int, x_bytes: int, x_requires_grad: bool, weight_trains: bool) -> int:
    """Bytes per token a norm saves for backward (heuristics TRAIN_RMSNORM_SAVED)."""
    if family.norm == "layernorm":  # native_layer_norm: input, mean and rstd
        return (x_bytes * width if x_requires_grad else 0) + 8
    saved = 4  # rsqrt, one per token
    if x_requires_grad:
        saved += 4 * width  # x.to(float32), saved by pow (x itself when the stream is fp32)
    if weight_trains:  # weight * x_normed: x_normed in the input dtype (Gemma: fp32)
        saved += (4 if family.norm == "gemma_rmsnorm" else x_bytes) * width
    return saved


def _inputs_saved(width: int, x_bytes: int, consumers: list[int], already_saved: bool = False) -> int:
    """Bytes per token kept for one input tensor read by several Linears (TRAIN_LINEAR_INPUT): `consumers` lists
    the dtype (bytes) each saving consumer computes in. Those in the tensor's own dtype share it; the others each
    keep their own cast copy. `already_saved`: the tensor is kept anyway (sdpa's output)."""
    shared = x_bytes * width if (x_bytes in consumers and not already_saved) else 0
    return shared + sum(c * width for c in consumers if c != x_bytes)


@dataclass(frozen=True)
class _LayerPlan:
    """Which Linears of one decoder layer save their inputs, and in which dtype."""

    attn_in: list[int]
    attn_out: list[int]
    mlp_in: list[int]
    mlp_out: list[int]
    lora_out: int  # bytes per token of lora_A outputs (rank × dtype) saved by lora_B
    grad_flows: bool  # does anything in or before this layer train (else it saves nothing)
    input_requires_grad: bool


def _role(module: str) -> str | None:
    last = module.split(".")[-1]
    parent = module.split(".")[-2] if "." in module else ""
    if last == "c_proj":
        return "attn_out" if "attn" in parent else "mlp_out"
    if last in _ATTN_IN:
        return "attn_in"
    if last in _ATTN_OUT:
        return "attn_out" if ("attn" in parent or "attention" in parent) else "mlp_out"
    if last in _MLP_IN:
        return "mlp_in"
    if last in _MLP_OUT:
        return "mlp_out"
    return None


def _layer_plans(r: TrainRequest, d: _Dtypes, n_layers: int, modules: list[LinearModule],
                 targets: list[LinearModule]) -> list[_LayerPlan]:
    by_layer: dict[int, list[LinearModule]] = {}
    for m in modules:
        if m.layer is not None and ".experts." not in m.name:
            by_layer.setdefault(m.layer, []).append(m)
    target_names = {t.name for t in targets}
    first_target = min((t.layer for t in targets if t.layer is not None), default=n_layers)
    adapter_compute = 2 if d.autocast else H.TRAIN_LORA_ADAPTER_BYTES.as_int()
    plans = []
    for i in range(n_layers):
        roles: dict[str, list[int]] = {"attn_in": [], "attn_out": [], "mlp_in": [], "mlp_out": []}
        lora_out = 0
        for m in by_layer.get(i, []):
            role = _role(m.name)
            if role is None:
                continue
            if r.method == "full":
                roles[role].append(d.compute)
            elif m.name in target_names:
                roles[role].append(adapter_compute)
                lora_out += r.lora_rank * adapter_compute
        flows = r.method == "full" or i >= first_target
        plans.append(_LayerPlan(roles["attn_in"], roles["attn_out"], roles["mlp_in"], roles["mlp_out"], lora_out,
                                flows, r.method == "full" or i > first_target or r.checkpointing))
    return plans


def _attention_saved(a: Attention, d: _Dtypes, batch: int, seq: int) -> tuple[int, bool, str]:
    """Bytes sdpa saves for one layer over the micro-batch, whether its output is kept (o_proj's input then shares
    it), and the kernel."""
    n = batch * seq
    hd, kvd = a.num_heads * a.head_dim, a.num_kv_heads * a.head_dim
    v_hd = a.num_heads * (a.v_head_dim or a.head_dim)
    kv_vd = a.num_kv_heads * (a.v_head_dim or a.head_dim)
    if d.compute >= 4 and a.num_kv_heads < a.num_heads:
        # fp32 with grouped KV heads: aten's math path (TRAIN_SDPA_MATH_SAVED)
        saved = n * 4 * (2 * hd + v_hd) + batch * a.num_heads * seq * seq * 4
        return saved, False, "math"
    c = d.compute
    saved = n * (c * (hd + kvd + kv_vd + v_hd) + 4 * a.num_heads)
    return saved, True, "flash" if c == 2 else "efficient"


def _mlp_core(arch: Architecture, d: _Dtypes, layer: int) -> tuple[int, int]:
    """Bytes per token the MLP's nonlinearity saves, and the width of down's input."""
    c = d.compute
    moe = arch.is_moe and layer >= arch.first_dense_layers
    if moe:
        k = int(arch.experts_per_token or 1)
        moe_i = int(arch.moe_intermediate_size or arch.intermediate_size or 4 * arch.hidden_size)
        experts = int(arch.num_experts or 0)
        shared = int(arch.extra.get("shared_expert_intermediate_size") or 0) or \
            int(arch.num_shared_experts or 0) * moe_i
        # router probabilities (fp32), per routed expert its gathered input, gated intermediates and product
        per_token = 4 * experts + k * (c * arch.hidden_size + 4 * c * moe_i) + (4 * c * shared if shared else 0)
        return per_token, 0
    inter = int(arch.intermediate_size or 4 * arch.hidden_size)
    if not arch.family.gated:
        act = str(arch.extra.get("hidden_act") or arch.family.default_act or "gelu")
        live = 4 if act in _PYTHON_ACTS else 1
        return live * c * inter, inter
    return int(H.TRAIN_GATED_MLP_SAVED.value) * c * inter, inter


@dataclass
class _Saved:
    layers: int  # all decoder layers' saved tensors
    largest_layer: int
    final: int  # final norm and the LM head's input
    kernel: str
    lines: list[str]


def saved_activations(arch: Architecture, r: TrainRequest, d: _Dtypes, modules: list[LinearModule],
                      targets: list[LinearModule]) -> _Saved:
    """Bytes autograd keeps for backward over one micro-batch, layer by layer (no checkpointing)."""
    b, s, n, h = r.batch, r.seq_len, r.tokens, arch.hidden_size
    mt = arch.family
    plans = _layer_plans(r, d, arch.num_layers, modules, targets)
    full = r.method == "full"
    total = largest = 0
    kernel = "flash"
    first_line = ""
    for i, (a, plan) in enumerate(zip(arch.layers, plans, strict=False)):
        if not plan.grad_flows:
            continue
        attn, out_kept, kernel = _attention_saved(a, d, b, s)
        hd = a.num_heads * (a.v_head_dim or a.head_dim)
        per_token = (
            _norm_saved(mt, h, d.stream, plan.input_requires_grad, full)
            + _inputs_saved(h, d.stream, plan.attn_in)
            + _inputs_saved(hd, d.compute, plan.attn_out, already_saved=out_kept)
            + _norm_saved(mt, h, d.stream, True, full)
            + _inputs_saved(h, d.stream, plan.mlp_in)
            + plan.lora_out
        )
        if mt.qk_norm:  # q_norm / k_norm over the projections' outputs
            per_token += _norm_saved(mt, a.num_heads * a.head_dim, d.compute, True, full) \
                + _norm_saved(mt, a.num_kv_heads * a.head_dim, d.compute, True, full)
        mlp, down_in = _mlp_core(arch, d, i)
        per_token += mlp + (_inputs_saved(down_in, d.compute, plan.mlp_out) if down_in else 0)
        layer = n * per_token + attn
        total += layer
        largest = max(largest, layer)
        if not first_line:
            first_line = (f"{n:,} tokens × {per_token:,} B (norms, Linear inputs, MLP) + sdpa ({kernel}) "
                          f"{attn:,} B per layer")
    lm_head = [d.compute] if full else ([H.TRAIN_LORA_ADAPTER_BYTES.as_int()] if any(t.is_output for t in targets)
                                        else [])
    final = n * (_norm_saved(mt, h, d.stream, True, full) + _inputs_saved(h, d.stream, lm_head))
    return _Saved(total, largest, final, kernel, [first_line])


# --------------------------------------------------------------------------- the estimate


def _check(r: TrainRequest, arch: Architecture) -> OptimizerSpec:
    if r.method not in METHODS:
        raise UsageError(f"unknown method {r.method!r}", f"choose one of: {', '.join(METHODS)}")
    if r.precision not in PRECISIONS:
        raise UsageError(f"unknown precision {r.precision!r}", f"choose one of: {', '.join(PRECISIONS)}")
    if r.optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {r.optimizer!r}", f"choose one of: {', '.join(OPTIMIZERS)}")
    if r.method == "qlora" and r.precision not in ("bf16", "fp16"):
        raise UsageError(f"QLoRA computes in bf16 or fp16, not {r.precision}",
                         "give --precision bf16 (bnb_4bit_compute_dtype) or fp16")
    if r.method in ("lora", "qlora") and r.lora_rank <= 0:
        raise UsageError(f"LoRA rank {r.lora_rank} is not positive", "give --lora-rank 8, 16, 64 …")
    for name, value in (("--seq-len", r.seq_len), ("--batch", r.batch), ("--grad-accum", r.grad_accum),
                        ("--gpus", r.gpus)):
        if value <= 0:
            raise UsageError(f"{name} {value} is not positive", f"give {name} 1 or more")
    if r.zero is not None and r.fsdp is not None:
        raise UsageError("--zero and --fsdp are two ways to shard", "give one of them")
    if r.zero is not None and r.zero not in (0, 1, 2, 3):
        raise UsageError(f"ZeRO stage {r.zero} does not exist", "give --zero 0, 1, 2 or 3")
    if r.fsdp is not None and r.fsdp not in FSDP_MODES:
        raise UsageError(f"unknown FSDP mode {r.fsdp!r}", f"choose one of: {', '.join(FSDP_MODES)}")
    if (r.zero is not None or r.fsdp is not None) and r.gpus < 2:
        flag = f"--zero {r.zero}" if r.zero is not None else f"--fsdp {r.fsdp}"
        raise UsageError(f"{flag} shards over GPUs, but --gpus is {r.gpus}", "give --gpus 2 or more")
    if r.offload_optimizer and not (r.zero or r.fsdp):
        raise UsageError("--offload-optimizer cpu is a ZeRO feature (ZeRO-Offload)",
                         "add --zero 2 (or 1, 3) with --gpus 2 or more")
    if r.offload_optimizer and r.fsdp:
        raise UsageError("FSDP offloads parameters, gradients and the optimizer together",
                         "use --offload-params cpu with --fsdp full")
    if r.offload_params and not (r.zero == 3 or r.fsdp == "full"):
        raise UsageError("--offload-params cpu needs sharded parameters", "add --zero 3 or --fsdp full")
    if not arch.layers:
        raise UsageError("the model has no decoder layers to train", "give a causal language model")
    return OPTIMIZERS[r.optimizer]


def _nf4_bytes(numel: int) -> int:
    block = H.QLORA_NF4_BLOCK.as_int()
    blocks = -(-numel // block)
    return numel // 2 + numel % 2 + blocks + 4 * -(-blocks // 256)


def train_memory(arch: Architecture, params: list[Param], r: TrainRequest) -> TrainEstimate:
    """Per-GPU memory of a training step: every term, the three phases and the peak."""
    spec = _check(r, arch)
    d = _dtypes(r)
    n_gpu = r.gpus
    tied = arch.tie_word_embeddings
    modules = linear_modules(params)
    full = r.method == "full"
    targets: list[LinearModule] = []
    if not full:
        targets = match_targets(modules, r.lora_targets)
        if not targets:
            kinds = ", ".join(module_kinds(modules)) or "none"
            raise UsageError(f"LoRA targets {', '.join(r.lora_targets)} match no module of this model",
                             f"name some of its Linear modules ({kinds}) or give --lora-targets all-linear")
    heur: list[H.Heuristic] = [H.TRAIN_CUBLAS_WORKSPACES, H.TRAIN_RMSNORM_SAVED, H.TRAIN_LINEAR_INPUT,
                               H.TRAIN_GATED_MLP_SAVED, H.TRAIN_LOGITS_BACKWARD]
    notes: list[str] = []
    total_params = sum(p.numel for p in params)
    adapter_b = H.TRAIN_LORA_ADAPTER_BYTES.as_int()

    # ---- model states
    terms: dict[str, Term] = {}
    if full:
        trainable = total_params
        train_shapes = [p.shape for p in params]
        state_param_b = 4 if d.master else d.weight
        weights = total_params * d.weight
        w_formula = f"{total_params:,} parameters × {d.weight} B"
    else:
        trainable = lora_params(targets, r.lora_rank)
        train_shapes = [s for t in targets for s in ((r.lora_rank, t.in_features), (t.out_features, r.lora_rank))]
        state_param_b = adapter_b
        heur.append(H.TRAIN_LORA_ADAPTER_BYTES)
        if r.method == "qlora":
            quantized = [p for p in params if _quantized_by_bnb(p, modules)]
            q_names = {p.name for p in quantized}
            base = sum(_nf4_bytes(p.numel) for p in quantized) + \
                sum(p.numel * 2 for p in params if p.name not in q_names)
            w_formula = (f"{sum(p.numel for p in quantized):,} Linear weights in NF4 (double quant) + "
                         f"{total_params - sum(p.numel for p in quantized):,} others in bf16")
            heur += [H.QLORA_NF4_BLOCK, H.QLORA_DEQUANT_TEMP]
        else:
            base = total_params * d.weight
            w_formula = f"{total_params:,} frozen parameters × {d.weight} B"
        weights = base + trainable * adapter_b
        w_formula += f" + {trainable:,} LoRA parameters × {adapter_b} B (fp32)"
    grads_full = trainable * (d.grad if full else adapter_b)
    states_full = sum(state_bytes(spec, s, state_param_b) for s in train_shapes)
    paged_full = sum(paged_bytes(spec, s, state_param_b) for s in train_shapes)
    master_full = trainable * d.master if full else 0

    zero = r.zero or 0
    fsdp = r.fsdp
    shard_states = zero >= 1 or fsdp is not None
    shard_grads = zero >= 2 or fsdp is not None
    shard_params = zero == 3 or fsdp == "full"
    if fsdp == "shard-grad-op":
        shard_params = False  # parameters stay gathered from forward to the end of backward

    def per_gpu(nbytes: int, sharded: bool) -> int:
        return -(-nbytes // n_gpu) if sharded else nbytes

    weights_gpu = per_gpu(weights, shard_params)
    host = 0
    if r.offload_params:
        host += weights_gpu
        weights_gpu = 0
    master_gpu = per_gpu(master_full, shard_states)
    states_gpu = per_gpu(states_full, shard_states)
    paged_gpu = per_gpu(paged_full, shard_states)
    grads_gpu = per_gpu(grads_full, shard_grads)
    offload_opt = r.offload_optimizer or (r.offload_params and fsdp == "full")
    if offload_opt:  # the optimizer runs on the host: fp32 master, states and fp32 gradients there
        host += master_gpu + states_gpu + (per_gpu(trainable * 4, True) if r.offload_optimizer else grads_gpu)
        master_gpu = states_gpu = paged_gpu = 0
        if r.offload_params:
            grads_gpu = 0
    states_torch = states_gpu - paged_gpu

    terms["weights"] = Term("weights", weights_gpu, w_formula + (f" ÷ {n_gpu} GPUs" if shard_params else "")
                            + (" → host (offloaded)" if r.offload_params else ""))
    if master_full:
        terms["fp32 master weights"] = Term("fp32 master weights", master_gpu,
                                            f"{trainable:,} × 4 B" + (f" ÷ {n_gpu}" if shard_states else "")
                                            + (" → host" if offload_opt else ""))
    terms["gradients"] = Term("gradients", grads_gpu, f"{trainable:,} trainable × {d.grad if full else adapter_b} B"
                              + (f" ÷ {n_gpu}" if shard_grads else ""))
    st = ", ".join(f"{name} ({layout})" for name, layout in spec.states)
    terms["optimizer states"] = Term("optimizer states", states_torch,
                                     f"{spec.implementation}: {st} over {trainable:,} trainable"
                                     + (f" ÷ {n_gpu}" if shard_states else "") + (" → host" if offload_opt else "")
                                     + (f" (+ {paged_gpu:,} B paged, outside torch)" if paged_gpu else ""))

    # ---- buffers that live all step
    ws = int(H.TRAIN_CUBLAS_WORKSPACES.value * H.CUBLAS_WORKSPACE.value)
    buffers = ws
    b_formula = f"{int(H.TRAIN_CUBLAS_WORKSPACES.value)} cuBLAS workspaces × 32 MiB"
    if n_gpu > 1 and not shard_states:  # DDP
        buffers += grads_gpu
        b_formula += f" + DDP gradient buckets {grads_gpu:,} B"
        heur.append(H.TRAIN_DDP_BUCKETS)
    terms["buffers"] = Term("buffers", buffers, b_formula)

    # ---- sharding working sets (gathered parameters, gradient buckets)
    sharding = _sharding_terms(params, arch, r, d, shard_params, shard_grads and full)
    terms.update({t.name: t for t in sharding})
    heur += [h for h, t in ((H.TRAIN_GATHERED_UNITS, "gathered parameters"), (H.TRAIN_REDUCE_BUCKET,
                                                                               "gradient buckets"))
             if t in terms and (t != "gathered parameters" or shard_params)]
    gathered = terms["gathered parameters"].nbytes if "gathered parameters" in terms else 0
    bucket_b = terms["gradient buckets"].nbytes if "gradient buckets" in terms else 0

    # ---- activations
    saved = saved_activations(arch, r, d, modules, targets)
    if saved.kernel == "math":
        heur.append(H.TRAIN_SDPA_MATH_SAVED)
    else:
        heur.append(H.TRAIN_SDPA_SAVED)
    n = r.tokens
    if r.checkpointing:
        heur.append(H.TRAIN_CHECKPOINT_KEEPS)
        kept = arch.num_layers * n * arch.hidden_size * d.stream
        acts = kept + saved.final
        terms["activations"] = Term("activations", acts,
                                    f"checkpointing keeps each layer's input: {arch.num_layers} × {n:,} tokens × "
                                    f"hidden {arch.hidden_size} × {d.stream} B + final norm/LM-head input "
                                    f"{saved.final:,} B")
    else:
        acts = saved.layers + saved.final
        terms["activations"] = Term("activations", acts,
                                    f"{saved.lines[0]} × {arch.num_layers} layers + final norm/LM-head input "
                                    f"{saved.final:,} B")
    terms["one layer's activations"] = Term("one layer's activations", saved.largest_layer,
                                            "the largest layer's saved tensors (rebuilt in backward with "
                                            f"checkpointing): {saved.lines[0]}")
    copies_all = copies_kept = 0
    if d.autocast:
        heur.append(H.TRAIN_AUTOCAST_COPIES)
        copies_all, copies_kept, terms["autocast weight copies"] = _autocast_copies(arch, modules, r)
    qlora_temp = 0
    if r.method == "qlora":
        qlora_temp = max((m.numel for m in modules if m.layer is not None), default=0) * d.compute
        terms["dequantized weight"] = Term("dequantized weight", qlora_temp,
                                           "the largest NF4 Linear weight dequantized to bf16 for its matmul")

    # ---- logits and loss
    v = arch.vocab_size
    nv = n * v
    logits_dtype = d.compute
    fwd_logits = nv * (logits_dtype + (4 if logits_dtype != 4 else 0) + 4)
    bwd_logits = nv * 4 * int(H.TRAIN_LOGITS_BACKWARD.value)
    terms["logits and loss"] = Term("logits and loss", bwd_logits,
                                    f"{n:,} tokens × vocab {v:,} × 4 B × {int(H.TRAIN_LOGITS_BACKWARD.value)} "
                                    f"(backward; forward holds {fwd_logits:,} B: logits in {logits_dtype} B, "
                                    "fp32 copy, log_softmax)")

    # ---- optimizer step temporaries
    step_term = _step_temporaries(spec, train_shapes, state_param_b, bool(offload_opt), zero,
                                  lambda nbytes: per_gpu(nbytes, shard_states))
    terms["optimizer step temporaries"] = step_term
    temps = step_term.nbytes

    # ---- phases
    resident = {"weights": weights_gpu, "fp32 master weights": master_gpu, "optimizer states": states_torch,
                "buffers": buffers}
    grads_before = grads_gpu if r.grad_accum > 1 else 0
    emb_tmp = v * arch.hidden_size * d.grad if (full and tied) else 0
    forward = {**resident, "gathered parameters": gathered, "gradients": grads_before, "activations": acts,
               "autocast weight copies": copies_all, "logits and loss": fwd_logits}
    at_loss = {**resident, "gathered parameters": gathered, "gradients": grads_before, "activations": acts,
               "autocast weight copies": copies_kept, "logits and loss": bwd_logits}
    # at the end of backward every gradient exists; the first layer's saved tensors (rebuilt, with checkpointing)
    # are the last activations still held
    at_end = {**resident, "gathered parameters": gathered, "gradients": grads_gpu, "gradient buckets": bucket_b,
              "one layer's activations": saved.largest_layer, "dequantized weight": qlora_temp,
              "embedding gradient": emb_tmp}
    candidates = [at_loss, at_end]
    if saved.kernel == "math" and not r.checkpointing:
        # the last layer's attention backward: the grad of its probabilities and softmax's backward output, each
        # batch × heads × seq² fp32, beside every saved tensor (the loss's tensors are freed by then)
        a0 = max(arch.layers, key=lambda a: a.num_heads)
        probs = r.batch * a0.num_heads * r.seq_len ** 2 * 4
        terms["attention backward temporaries"] = Term("attention backward temporaries", 2 * probs,
                                                       f"2 × {r.batch} × {a0.num_heads} heads × {r.seq_len:,}² × 4 B")
        candidates.append({**resident, "gathered parameters": gathered, "gradients": grads_before,
                           "activations": acts, "attention backward temporaries": 2 * probs})
    backward = max(candidates, key=lambda p: sum(p.values()))
    step = {**resident, "gradients": grads_gpu, "optimizer step temporaries": temps}
    phases = {"forward": forward, "backward": backward, "optimizer step": step}
    phases = {k: {n_: b_ for n_, b_ in p.items() if b_} for k, p in phases.items()}
    peak_phase = max(PHASES, key=lambda k: sum(phases[k].values()))
    peak = sum(phases[peak_phase].values())
    if emb_tmp:
        terms["embedding gradient"] = Term("embedding gradient", emb_tmp,
                                           f"tied embedding: a second vocab {v:,} × hidden {arch.hidden_size} × "
                                           f"{d.grad} B gradient before it is accumulated")

    # ---- what the process holds beyond torch's allocated peak
    growth = peak - sum(resident.values())
    slack = int(max(growth, 0) * H.TRANSFORMERS_ALLOCATOR_SLACK.value)
    heur += [H.TRANSFORMERS_ALLOCATOR_SLACK, H.CUDA_CONTEXT, H.CUBLAS_WORKSPACE]
    ctx = H.CUDA_CONTEXT.as_int()

    notes += _train_notes(spec, r, arch, paged_gpu)
    return TrainEstimate(r, spec, total_params, trainable, len(targets), terms, phases, peak_phase, peak, slack, ctx,
                         host, paged_gpu, _unique(heur), notes)



def _sharding_terms(params: list[Param], arch: Architecture, r: TrainRequest, d: _Dtypes, shard_params: bool,
                    bucket_grads: bool) -> list[Term]:
    """ZeRO/FSDP working sets: the parameters gathered around a unit's compute, the gradient reduce buckets."""
    unit = _largest_unit(params, arch)
    out = []
    if shard_params:
        g = int(H.TRAIN_GATHERED_UNITS.value)
        out.append(Term("gathered parameters", g * unit * d.compute,
                        f"{g} units × largest unit {unit:,} parameters × {d.compute} B"))
    elif r.fsdp == "shard-grad-op":
        total = sum(p.numel for p in params)
        out.append(Term("gathered parameters", total * d.compute,
                        f"{total:,} parameters × {d.compute} B (gathered from forward to the end of backward)"))
    if bucket_grads:
        bucket = (int(H.TRAIN_REDUCE_BUCKET.value) * arch.hidden_size ** 2 * d.grad if r.zero else unit * d.grad)
        out.append(Term("gradient buckets", bucket,
                        f"{int(H.TRAIN_REDUCE_BUCKET.value)} × hidden² × {d.grad} B" if r.zero
                        else f"one unit's unsharded grads {unit:,} × {d.grad} B"))
    return out


def _autocast_copies(arch: Architecture, modules: list[LinearModule], r: TrainRequest) -> tuple[int, int, Term]:
    """autocast's bf16 copies of the Linear weights (fp32 master weights under torch.autocast): (held during the
    forward, kept into the backward, their term)."""
    linear_numel = sum(m.numel for m in modules if m.layer is not None)
    head = next((m.numel for m in modules if m.is_output), 0) or (
        arch.vocab_size * arch.hidden_size if arch.tie_word_embeddings else 0)
    copies_all = (linear_numel + head) * int(H.TRAIN_AUTOCAST_COPIES.value)
    copies_kept = copies_all if not r.checkpointing else head * int(H.TRAIN_AUTOCAST_COPIES.value)
    if r.checkpointing and r.method != "full":
        copies_all = copies_kept  # frozen weights are not cached (only leaves that require grad are)
    return copies_all, copies_kept, Term("autocast weight copies", copies_kept,
                                         f"{linear_numel + head:,} Linear weights × 2 B (bf16)"
                                         + (" — LM head only kept; all cached during forward"
                                            if r.checkpointing else ""))


def _train_notes(spec: OptimizerSpec, r: TrainRequest, arch: Architecture, paged_gpu: int) -> list[str]:
    """What the figures rest on: unmeasured paths, MoE routing, NCCL, paged optimizer states."""
    notes = []
    if not spec.measured or r.method == "qlora":
        what = "QLoRA" if r.method == "qlora" else spec.implementation
        notes.append(f"{what} has no GPU measurement yet: its figures follow the code, unchecked — "
                     "tests/data/measurements/measure_train.py shows how to add one")
    if arch.is_moe:
        notes.append("MoE layers: routed-expert activations are estimated from the routing (experts per token), "
                     "not walked tensor by tensor; no training measurement"
                     + ("; QLoRA keeps the routed experts in bf16 (fused 3-D parameters in transformers ≥ 5, not "
                        "the Linear layers bitsandbytes replaces) — an assumption, unmeasured"
                        if r.method == "qlora" else ""))
    if r.gpus > 1:
        notes.append("NCCL's own buffers (outside torch's allocator, typically a few hundred MB) are not counted")
    if paged_gpu:
        notes.append(f"{paged_gpu:,} B of optimizer states are paged (CUDA unified memory): on the GPU while it has "
                     "room, moved to host RAM by the driver when it runs short")
    return notes


def _step_temporaries(spec: OptimizerSpec, train_shapes: list[tuple[int, ...]], state_param_b: int,
                      offloaded: bool, zero: int, sharded_bytes: Callable[[int], int]) -> Term:
    """What the optimizer step allocates besides the states: foreach copies of the parameters, or per-parameter
    fp32 temporaries; nothing for a fused, in-place or offloaded step."""
    if offloaded:
        temps = 0
    elif spec.step_temps == "foreach" and not zero:
        temps = spec.temp_copies * sharded_bytes(sum(prod(s) for s in train_shapes) * state_param_b)
    elif spec.step_temps == "per_param":
        largest = max((prod(s) for s in train_shapes), default=0)
        half = 4 if state_param_b < 4 else 0
        temps = largest * (spec.temp_copies * 4 + 2 * half)
    else:
        temps = 0
    return Term(
        "optimizer step temporaries", temps,
        ("none: DeepSpeed's FusedAdam updates in place under ZeRO" if zero and spec.step_temps == "foreach"
         else "none (fused update or offloaded step)") if not temps else
        (f"{spec.temp_copies} copy of the trainable parameters (state dtype)" if spec.step_temps == "foreach"
         else f"fp32 temporaries of the largest trainable tensor ({max(prod(s) for s in train_shapes):,})"))

def _quantized_by_bnb(p: Param, modules: list[LinearModule]) -> bool:
    """transformers' bitsandbytes quantizer replaces every nn.Linear but the output layer (and the vision tower's
    modules it is told to skip); embeddings and norms are not Linear."""
    if len(p.shape) != 2 or not p.name.endswith(".weight"):
        return False
    name = p.name[: -len(".weight")]
    return any(m.name == name and not m.is_output for m in modules)


def _largest_unit(params: list[Param], arch: Architecture) -> int:
    """Parameters of the largest wrapped unit: one decoder layer, or the embedding / LM head."""
    per_layer: dict[int, int] = {}
    other = 0
    for p in params:
        i = _layer_index(p.name)
        if i is None:
            other = max(other, p.numel)
        else:
            per_layer[i] = per_layer.get(i, 0) + p.numel
    return max([other, *per_layer.values()])


def _unique(items: list[H.Heuristic]) -> list[H.Heuristic]:
    seen: dict[str, H.Heuristic] = {}
    for h in items:
        seen.setdefault(h.name, h)
    return list(seen.values())
