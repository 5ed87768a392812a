"""KV cache (exact) and engine totals against real GPU measurements (tests/data/measurements)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.engines import RuntimeRequest, runtime_memory
from vramcalc.calculator.kv import kv_bits, kv_cache_bytes
from vramcalc.calculator.quantize import plan_format
from vramcalc.errors import UsageError
from vramcalc.readers.config_json import inventory_from_config
from vramcalc.registry import load_registry

DATA = Path(__file__).parent / "data" / "measurements"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "configs"


def _models() -> dict[str, dict[str, Any]]:
    src = (DATA / "measure.py").read_text()
    ns: dict[str, Any] = {}
    exec(src[src.index("MODELS = {"):src.index("RUNS = {")], ns)  # the configs the measurements were built from
    return ns["MODELS"]


MODELS = _models()
RECORDS = [json.loads(line) for line in (DATA / "h100-transformers.jsonl").read_text().splitlines()]
WEIGHTS = {(r["model"], r["dtype"]): r for r in RECORDS if r["kind"] == "weights"}
RUNS = [r for r in RECORDS if r["kind"] == "generate"]


def _id(r: dict[str, Any]) -> str:
    return f"{r['model']}-{r['dtype'][6:]}-b{r['batch']}-p{r['prompt']}"


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_transformers_kv_is_exact(run: dict[str, Any]) -> None:
    arch = architecture_from_config(dict(MODELS[run["model"]]))
    tokens = run["prompt"] + run["new_tokens"] - 1  # the last generated token is never fed back
    dtype = "fp32" if "float32" in run["dtype"] else "bf16"
    assert kv_cache_bytes(arch, tokens, run["batch"], dtype) == run["kv_cache_bytes"]


def test_transformers_totals_within_10_percent(capsys: pytest.CaptureFixture[str]) -> None:
    rows, worst = [], 0.0
    for run in RUNS:
        arch = architecture_from_config(dict(MODELS[run["model"]]))
        act_bytes = 4 if "float32" in run["dtype"] else 2
        w = WEIGHTS[(run["model"], run["dtype"])]
        est = runtime_memory(arch, w["param_bytes"], RuntimeRequest(
            context=run["prompt"] + run["new_tokens"] - 1, batch=run["batch"]), act_bytes=act_bytes)
        act = run["peak_allocated"] - run["allocated_before"] - run["kv_cache_bytes"]
        err_total = est.total_bytes / run["nvml_used_after"] - 1
        worst = max(worst, abs(err_total))
        rows.append(f"{_id(run):<38} KV exact  activations {100 * (est.activation_bytes / act - 1):+6.1f}%  "
                    f"total {est.total_bytes / 1e9:6.2f} GB vs NVML {run['nvml_used_after'] / 1e9:6.2f} GB "
                    f"({100 * err_total:+5.1f}%)")
    with capsys.disabled():
        print("\ntransformers profile vs H100 measurements:\n" + "\n".join(rows))
    assert worst <= 0.10


def test_llamacpp_against_its_own_breakdown() -> None:
    data = json.loads((DATA / "llamacpp-h100.json").read_text())
    configs = {"Llama-3.1-8B": json.loads((EXAMPLES / "llama-3.1-8b/config.json").read_text()),
               "Llama-3.2-1B": dict(MODELS["Llama-3.2-1B"])}
    reg = load_registry()
    mib = 2**20
    for run in data["runs"]:
        cfg = configs[run["model"]]
        plan = plan_format(inventory_from_config(cfg, run["model"]), reg.get("Q4_K_M"), reg)
        emb = sum(p.nbytes for p in plan.tensors if p.cls == "embeddings")
        out = sum(p.nbytes for p in plan.tensors if p.cls == "lm_head")
        args = run["args"]
        req = RuntimeRequest(engine="llama.cpp", context=int(re.search(r"-c (\d+)", args).group(1)),  # type: ignore[union-attr]
                             gpu_layers=int(re.search(r"-ngl (\d+)", args).group(1)),  # type: ignore[union-attr]
                             flash_attention="-fa on" in args)
        est = runtime_memory(architecture_from_config(cfg), plan.nbytes, req, embedding_bytes=emb, output_bytes=out)
        assert est.kv_cache_bytes / mib == pytest.approx(run["cuda_kv_mib"], abs=0.01), run["tag"]
        assert est.weights_on_gpu / mib == pytest.approx(run["cuda_model_mib"], rel=0.01), run["tag"]
        assert est.activation_bytes / mib == pytest.approx(run["cuda_compute_mib"], rel=0.10), run["tag"]
        assert est.total_bytes / mib == pytest.approx(run["peak_nvidia_smi_mib"], rel=0.05), run["tag"]


def test_kv_kinds() -> None:
    ds = architecture_from_config(json.loads((EXAMPLES / "deepseek-v3/config.json").read_text()))
    # MLA latent: (512 + 64) × 2 bytes per token per layer in vLLM; transformers caches full K and V per head.
    assert kv_cache_bytes(ds, 1000, 1, "bf16", "vllm") == 61 * 576 * 2 * 1000
    assert kv_cache_bytes(ds, 1000, 1, "bf16", "transformers") == 61 * 128 * (192 + 128) * 2 * 1000
    g2 = architecture_from_config(json.loads((EXAMPLES / "gemma-2-9b/config.json").read_text()))
    full = 21 * 8 * 256 * 2 * 2
    assert kv_cache_bytes(g2, 8192, 1, "bf16", "vllm") == full * 8192 + full * 4096
    assert kv_bits("q8_0") == 8.5 and kv_bits("q4_0") == 4.5 and kv_bits("fp8") == 8


def test_vllm_capacity() -> None:
    arch = architecture_from_config(json.loads((EXAMPLES / "llama-3.1-8b/config.json").read_text()))
    est = runtime_memory(arch, 16_060_522_496, RuntimeRequest(engine="vllm", context=8192))
    assert est.kv_capacity_tokens is not None and est.kv_capacity_tokens % 16 == 0
    per_token = 32 * 8 * 128 * 2 * 2
    budget = int(0.9 * 85_017_493_504) - 16_060_522_496 - est.activation_bytes - est.overhead_bytes
    assert est.kv_capacity_tokens == budget // per_token // 16 * 16
    assert est.max_concurrency == est.kv_capacity_tokens // 8192


def test_bad_runtime_requests() -> None:
    with pytest.raises(UsageError, match="choose one of: transformers, vllm, llama.cpp"):
        runtime_memory(None, 1, RuntimeRequest(engine="tgi"))
    with pytest.raises(UsageError, match="choose one of"):
        kv_bits("q7_k")
    with pytest.raises(UsageError, match="must be positive"):
        runtime_memory(None, 1, RuntimeRequest(context=0))


def test_estimate_cli_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", str(EXAMPLES / "llama-3.1-8b"), "-d", "bf16", "--context", "8192", "--json")
    assert r.code == 0, r.err
    row = r.json()["rows"][0]
    assert row["kv_cache_bytes"] == 32 * 8 * 128 * 2 * 2 * 8192
    assert row["total_bytes"] == row["weight_bytes"] + row["kv_cache_bytes"] + row["activation_bytes"] + \
        row["overhead_bytes"]
