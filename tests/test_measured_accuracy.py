"""The transformers profile against every H100 measurement (tests/data/measurements), component by component.

Each generate record gives: the KV bytes the returned DynamicCache holds (must match exactly), the allocated peak
(weights + cuBLAS workspace + KV + activations), the reserved peak (+ allocator slack) and the NVML total of the
process (+ CUDA context). The table printed by `test_error_table` is the accuracy table of the README.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.measurements import MODELS, RUNS, WEIGHTS, run_id
from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.engines import RuntimeEstimate, RuntimeRequest, runtime_memory
from vramcalc.calculator.kv import kv_cache_bytes

TOLERANCE = 0.10  # totals (NVML) and peaks; KV must be exact


def _cached_tokens(run: dict[str, Any]) -> int:
    # The cache holds the prompt and every generated token but the last, which is sampled and never fed back.
    return int(run["prompt"] + run["new_tokens"] - 1)


def _estimate(run: dict[str, Any]) -> RuntimeEstimate:
    arch = architecture_from_config(dict(MODELS[run["model"]]))
    w = WEIGHTS[(run["model"], run["dtype"])]
    return runtime_memory(arch, w["param_bytes"], RuntimeRequest(context=_cached_tokens(run), batch=run["batch"]),
                          act_bytes=4 if "float32" in run["dtype"] else 2)


def _err(est: int, measured: int) -> float:
    return est / measured - 1


def test_the_data_is_what_the_readme_says() -> None:
    assert len(RUNS) == 16 and {r["cache_type"] for r in RUNS} == {"DynamicCache"}
    assert {r["transformers"] for r in WEIGHTS.values()} == {"5.17.0"}


@pytest.mark.parametrize("run", RUNS, ids=run_id)
def test_kv_cache_is_exact(run: dict[str, Any]) -> None:
    arch = architecture_from_config(dict(MODELS[run["model"]]))
    dtype = "fp32" if "float32" in run["dtype"] else "bf16"
    assert kv_cache_bytes(arch, _cached_tokens(run), run["batch"], dtype) == run["kv_cache_bytes"]
    # one token more or less would be off by a whole token's KV: the count of cached tokens is verified too
    assert kv_cache_bytes(arch, _cached_tokens(run) + 1, run["batch"], dtype) != run["kv_cache_bytes"]


@pytest.mark.parametrize("run", RUNS, ids=run_id)
def test_peaks_and_total_within_tolerance(run: dict[str, Any]) -> None:
    est = _estimate(run)
    assert est.kv_cache_bytes == run["kv_cache_bytes"]
    assert est.peak_allocated_bytes is not None and est.peak_reserved_bytes is not None
    assert abs(_err(est.peak_allocated_bytes, run["peak_allocated"])) <= TOLERANCE
    assert abs(_err(est.peak_reserved_bytes, run["peak_reserved"])) <= TOLERANCE
    assert abs(_err(est.total_bytes, run["nvml_used_after"])) <= TOLERANCE
    # the parts add up to the total
    assert est.total_bytes == est.weights_on_gpu + est.kv_cache_bytes + est.activation_bytes + est.overhead_bytes
    assert sum(v for k, v in est.parts.items() if k.startswith("activations: ")) == est.activation_bytes


def test_weights_as_allocated() -> None:
    # the weights row of the table: parameter bytes vs what the allocator holds after loading (512-byte rounding)
    for w in WEIGHTS.values():
        assert abs(_err(w["param_bytes"] + w["buffer_bytes"], w["allocated_after_load"])) < 0.02


def test_error_table(capsys: pytest.CaptureFixture[str]) -> None:
    head = (f"{'run':<36} {'weights':>8} {'KV':>6} {'act':>7} {'peak alloc':>10} {'peak resv':>10} "
            f"{'NVML total':>10}  {'est GB':>7} {'meas GB':>7}")
    rows = [head, "-" * len(head)]
    worst: dict[str, float] = {}
    for run in RUNS:
        est = _estimate(run)
        w = WEIGHTS[(run["model"], run["dtype"])]
        measured_act = run["peak_allocated"] - run["allocated_before"] - run["kv_cache_bytes"]
        errs = {
            "weights": _err(est.weights_on_gpu, w["allocated_after_load"]),
            "KV": _err(est.kv_cache_bytes, run["kv_cache_bytes"]),
            "act": _err(est.activation_bytes, measured_act),
            "peak alloc": _err(est.peak_allocated_bytes or 0, run["peak_allocated"]),
            "peak resv": _err(est.peak_reserved_bytes or 0, run["peak_reserved"]),
            "NVML total": _err(est.total_bytes, run["nvml_used_after"]),
        }
        for k, v in errs.items():
            worst[k] = max(worst.get(k, 0.0), abs(v))
        cells = " ".join(f"{100 * v:+{len(k) if len(k) > 6 else 6}.1f}%".rjust(max(len(k), 6) + 1)
                         for k, v in errs.items())
        rows.append(f"{run_id(run):<36}{cells}  {est.total_bytes / 1e9:7.2f} {run['nvml_used_after'] / 1e9:7.2f}")
    rows.append("worst: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in worst.items()))
    with capsys.disabled():
        print("\ntransformers profile vs H100 measurements (estimate / measured − 1):\n" + "\n".join(rows))
    assert worst["KV"] == 0.0
    assert worst["NVML total"] <= TOLERANCE
