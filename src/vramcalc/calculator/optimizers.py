"""The optimizers `vramcalc train` knows: the state tensors each keeps per parameter, their dtypes, and the
temporaries of its step — read from each implementation's code (the `source` of every entry).

Data only; calculator/training.py prices a parameter list with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "param": the parameter's own shape and dtype (torch.zeros_like(p)); "fp32": its shape in float32;
# "blockwise8": bitsandbytes 8-bit (uint8 per element + an fp32 absmax per block; fp32 below min_8bit_size elements);
# "factored": Adafactor's second moment — a row and a column vector (fp32) for a matrix, the full shape for a vector.
StateLayout = Literal["param", "fp32", "blockwise8", "factored"]
# "foreach": torch's multi-tensor step allocates `temp_copies` tensors the size of all trainable parameters (state
# dtype) at once; "per_param": a Python loop over parameters, `temp_copies` fp32 tensors of the largest one (+ fp32
# copies of a half grad and parameter); "none": a fused kernel updates in place.
StepTemps = Literal["foreach", "per_param", "none"]


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    implementation: str
    states: tuple[tuple[str, StateLayout], ...]
    step_temps: StepTemps
    temp_copies: int
    source: str
    paged: bool = False  # states above PAGED_MIN_ELEMENTS live in CUDA unified memory, outside torch's allocator
    measured: bool = False  # checked against tests/data/measurements/h100-train.jsonl
    block: int = 256
    min_8bit_size: int = 4096


_TORCH_ADAM = "pytorch/pytorch torch/optim/adam.py (_multi_tensor_adam; AdamW is Adam with decoupled_weight_decay)"
_BNB = "bitsandbytes bitsandbytes/optim/optimizer.py"

OPTIMIZERS: dict[str, OptimizerSpec] = {
    "adamw": OptimizerSpec(
        "adamw", "torch.optim.AdamW (foreach, torch's default on CUDA)",
        (("exp_avg", "param"), ("exp_avg_sq", "param")), "foreach", 1,
        f"{_TORCH_ADAM}: exp_avg and exp_avg_sq = zeros_like(p); the step is a CPU scalar; the update builds "
        "exp_avg_sq_sqrt = _foreach_sqrt(exp_avg_sqs), one tensor per parameter, before addcdiv",
        measured=True),
    "adamw-fused": OptimizerSpec(
        "adamw-fused", "torch.optim.AdamW(fused=True) (transformers Trainer's default optim adamw_torch_fused)",
        (("exp_avg", "param"), ("exp_avg_sq", "param")), "none", 0,
        f"{_TORCH_ADAM} and torch/optim/_functional fused kernels: same states, one kernel per tensor list, no "
        "temporaries; transformers training_args.py picks adamw_torch_fused on torch ≥ 2.8"),
    "adam": OptimizerSpec(
        "adam", "torch.optim.Adam (foreach, weight_decay 0)",
        (("exp_avg", "param"), ("exp_avg_sq", "param")), "foreach", 1,
        f"{_TORCH_ADAM}: as AdamW; with weight_decay ≠ 0 (not the default) _foreach_add makes one more gradient copy"),
    "adamw-8bit": OptimizerSpec(
        "adamw-8bit", "bitsandbytes AdamW8bit",
        (("state1", "blockwise8"), ("state2", "blockwise8")), "none", 0,
        f"{_BNB} Optimizer2State.init_state: state1/state2 uint8 + absmax1/absmax2 fp32 per 256-element block; "
        "tensors under min_8bit_size = 4096 elements keep fp32 states; optimizer_update_8bit_blockwise updates in "
        "place"),
    "paged-adamw-8bit": OptimizerSpec(
        "paged-adamw-8bit", "bitsandbytes PagedAdamW8bit (the QLoRA recipe)",
        (("state1", "blockwise8"), ("state2", "blockwise8")), "none", 0,
        f"{_BNB}: as AdamW8bit; get_state_buffer puts states of tensors with ≥ 1e5 elements in CUDA unified memory "
        "(functional.get_paged, cudaMallocManaged), which the driver pages to host RAM when the GPU runs short",
        paged=True),
    "adafactor": OptimizerSpec(
        "adafactor", "transformers Adafactor (beta1=None, factored second moment)",
        (("exp_avg_sq", "factored"),), "per_param", 2,
        "huggingface/transformers src/transformers/optimization.py Adafactor.step: exp_avg_sq_row (shape[:-1]) and "
        "exp_avg_sq_col (shape[:-2] + shape[-1:]) in fp32 (the grad is upcast first) for ≥ 2-D tensors, a full fp32 "
        "exp_avg_sq for vectors, no first moment unless beta1 is set; per parameter, `update = grad**2 + eps` and "
        "the row × column approximation are two fp32 tensors of its size, plus fp32 copies of a bf16/fp16 grad "
        "and parameter"),
    "sgd": OptimizerSpec(
        "sgd", "torch.optim.SGD(momentum > 0) (foreach)",
        (("momentum_buffer", "param"),), "none", 0,
        "pytorch/pytorch torch/optim/sgd.py _multi_tensor_sgd: momentum_buffer = clone(grad) on the first step, "
        "then _foreach_mul_/_foreach_add_ in place (no temporaries without weight decay or nesterov); momentum 0 "
        "keeps no state at all"),
    "lion": OptimizerSpec(
        "lion", "bitsandbytes Lion (32-bit; transformers optim lion_32bit)",
        (("state1", "fp32"),), "none", 0,
        f"{_BNB} Optimizer1State.init_state: one fp32 state1 per parameter (optim_bits=32), updated in place by "
        "optimizer_update_32bit"),
}

# bitsandbytes get_state_buffer: paged only from this many elements; smaller states stay in torch's allocator.
PAGED_MIN_ELEMENTS = 100_000


def state_bytes(spec: OptimizerSpec, shape: tuple[int, ...], param_bytes: int) -> int:
    """Bytes of `spec`'s states for one parameter of `shape` stored with `param_bytes` per element."""
    n = 1
    for d in shape:
        n *= d
    total = 0
    for _, layout in spec.states:
        if layout == "param":
            total += n * param_bytes
        elif layout == "fp32":
            total += n * 4
        elif layout == "blockwise8":
            total += n * 4 if n < spec.min_8bit_size else n + 4 * -(-n // spec.block)
        elif len(shape) >= 2:  # factored
            rows = n // shape[-1]
            cols = n // shape[-2]
            total += 4 * (rows + cols)
        else:
            total += 4 * n
    return total


def paged_bytes(spec: OptimizerSpec, shape: tuple[int, ...], param_bytes: int) -> int:
    """The part of state_bytes that bitsandbytes puts in unified (paged) memory."""
    n = 1
    for d in shape:
        n *= d
    return state_bytes(spec, shape, param_bytes) if spec.paged and n >= PAGED_MIN_ELEMENTS else 0
