"""`vramcalc train` against every H100 training run in tests/data/measurements/h100-train.jsonl.

Each run gives the peak allocated bytes of three real optimizer steps (steps 2-3 are the steady peak: the first
allocates the optimizer states during its step) and the exact trainable count. The estimate is walked from what
autograd saves (calculator/training.py); nothing here is fitted to these runs. `test_error_table` prints the table
the README's Accuracy section quotes (`pytest -s tests/test_train_accuracy.py::test_error_table`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.measurements import DATA, MODELS
from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.training import Param, TrainEstimate, TrainRequest, train_memory
from vramcalc.readers.config_json import inventory_from_config

TRAIN_RUNS = [json.loads(line) for line in (DATA / "h100-train.jsonl").read_text().splitlines() if line.strip()]
TOLERANCE = 0.10  # the bar for the allocated peak
# measure_train.py's modes as vramcalc requests
MODES = {"full_fp32_amp": ("full", "amp-bf16"), "full_bf16": ("full", "bf16"), "lora_bf16": ("lora", "bf16")}
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def run_id(r: dict[str, Any]) -> str:
    return f"{r['model']}-{r['mode']}-b{r['batch']}x{r['seq']}" + ("-ckpt" if r["grad_ckpt"] else "")


def estimate(run: dict[str, Any]) -> TrainEstimate:
    config = dict(MODELS[run["model"]])
    inventory = inventory_from_config(config, run["model"])
    method, precision = MODES[run["mode"]]
    request = TrainRequest(method=method, precision=precision, optimizer="adamw", seq_len=run["seq"],
                           batch=run["batch"], checkpointing=run["grad_ckpt"], lora_rank=16, lora_alpha=32,
                           lora_targets=LORA_TARGETS)
    return train_memory(architecture_from_config(config), [Param(t.name, t.shape) for t in inventory.tensors],
                        request)


def steady_peak(run: dict[str, Any]) -> int:
    return max(run["peak_allocated"][1:])


def test_the_data_is_what_the_readme_says() -> None:
    assert len(TRAIN_RUNS) == 4 and {r["kind"] for r in TRAIN_RUNS} == {"train"}
    assert {r["mode"] for r in TRAIN_RUNS} == set(MODES)


@pytest.mark.parametrize("run", TRAIN_RUNS, ids=run_id)
def test_counts_are_exact(run: dict[str, Any]) -> None:
    est = estimate(run)
    assert est.trainable == run["trainable"]
    if run["mode"] != "lora_bf16":  # peft's model also counts its adapters
        assert est.params == run["params"]
    else:
        assert est.params + est.trainable == run["params"]


@pytest.mark.parametrize("run", TRAIN_RUNS, ids=run_id)
def test_peak_allocated_within_tolerance(run: dict[str, Any]) -> None:
    est = estimate(run)
    assert abs(est.peak_allocated_bytes / steady_peak(run) - 1) <= TOLERANCE
    # every phase's parts add up, and the peak is the largest phase
    assert est.peak_allocated_bytes == max(sum(p.values()) for p in est.phases.values())


@pytest.mark.parametrize("run", TRAIN_RUNS, ids=run_id)
def test_resident_states_match_steady_allocated(run: dict[str, Any]) -> None:
    # after a step: weights + optimizer states + the cuBLAS workspaces (gradients freed by zero_grad)
    est = estimate(run)
    resident = sum(est.terms[k].nbytes for k in ("weights", "optimizer states", "buffers"))
    assert abs(resident / run["steady_allocated"] - 1) <= 0.07


def test_first_step_of_bf16_is_the_optimizer_step() -> None:
    # The first step allocates the AdamW states inside the step: its peak is exactly the optimizer-step phase
    # (weights + grads + states + foreach's sqrt temporary), which the steady steps exceed in backward.
    run = next(r for r in TRAIN_RUNS if r["mode"] == "full_bf16")
    est = estimate(run)
    assert abs(sum(est.phases["optimizer step"].values()) / run["peak_allocated"][0] - 1) < 0.005
    assert est.peak_phase == "backward"


def test_error_table(capsys: pytest.CaptureFixture[str]) -> None:
    head = f"{'run':<44} {'trainable':>13} {'est GB':>8} {'meas GB':>8} {'error':>7}  phase"
    lines = [head, "-" * len(head)]
    worst = 0.0
    for run in TRAIN_RUNS:
        est = estimate(run)
        err = est.peak_allocated_bytes / steady_peak(run) - 1
        worst = max(worst, abs(err))
        lines.append(f"{run_id(run):<44} {est.trainable:>13,} {est.peak_allocated_bytes / 1e9:>8.3f} "
                     f"{steady_peak(run) / 1e9:>8.3f} {err:>+7.2%}  {est.peak_phase}")
    lines.append(f"worst: {worst:.2%}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert worst <= TOLERANCE
