"""vramcalc fit: the plans (llama.cpp offload and expert offload, vLLM tensor/pipeline parallel, transformers
device_map), margins, Apple unified memory, speed bounds, the largest model, bad input and the JSON schema.

The accuracy check is llama.cpp's own: given a budget equal to a measured partial-offload run's nvidia-smi peak,
`fit --margin 0` must choose that run's -ngl (±1) and predict its peak within 5 %."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.measurements import LLAMACPP, MODELS
from vramcalc import heuristics as H
from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.engines import RowWeights
from vramcalc.calculator.fit import (
    Device,
    FitInput,
    FitRequest,
    parallel_degrees,
    plan_row,
    pp_layers,
    prefill_flops,
)
from vramcalc.fit_report import FitReport

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "configs"
LLAMA_8B = str(EXAMPLES / "llama-3.1-8b")
QWEN3_MOE = str(EXAMPLES / "qwen3-30b-a3b")
MIB, GIB = 2**20, 2**30
# meta-llama/Llama-3.1-70B config.json (the fields the estimate reads)
LLAMA_70B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 8192,
             "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64,
             "num_key_value_heads": 8, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05,
             "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


def _fit(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    result = run_cli(capsys, "fit", *args, "--json")
    assert result.code == 0, result.err
    data: dict[str, Any] = result.json()
    return data


def _model_dir(tmp_path: Path, name: str, config: dict[str, Any]) -> str:
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config))
    return str(d)


# --------------------------------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("run", LLAMACPP["runs"], ids=lambda r: r["tag"])
def test_budget_of_a_measured_peak_chooses_its_ngl(run: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    args = run["args"]
    context = re.search(r"-c (\d+)", args).group(1)  # type: ignore[union-attr]
    ngl = int(re.search(r"-ngl (\d+)", args).group(1))  # type: ignore[union-attr]
    model = LLAMA_8B if run["model"] == "Llama-3.1-8B" else _model_dir(tmp_path, "llama-1b",
                                                                       dict(MODELS["Llama-3.2-1B"]))
    data = _fit(capsys, model, "-d", "Q4_K_M", "--engine", "llama.cpp", "-c", context,
                "--gpu-memory", f"{run['peak_nvidia_smi_mib']}MiB", "--margin", "0",
                *([] if "-fa on" in args else ["--no-flash-attention"]))
    row = data["rows"][0]
    layers = row["n_layers"]
    assert row["fits"] and row["margin_bytes"] == 0
    assert abs(row["gpu_layers"] - min(ngl, layers)) <= 1, (row["gpu_layers"], ngl)
    assert row["vram_bytes"] / MIB == pytest.approx(run["peak_nvidia_smi_mib"], rel=0.05)
    assert row["launch"]["args"][:2] == ["-ngl", str(row["gpu_layers"])]


def test_the_partial_offload_run_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    # -ngl 16 at 8192 tokens: measured peak 3,627 MiB; the plan takes -ngl 16 and predicts 3,617 MiB (−0.3 %)
    run = next(r for r in LLAMACPP["runs"] if r["tag"] == "q4km-c8192-ngl16")
    data = _fit(capsys, LLAMA_8B, "-d", "Q4_K_M", "--engine", "llama.cpp", "-c", "8192",
                "--gpu-memory", f"{run['peak_nvidia_smi_mib']}MiB", "--margin", "0")
    row = data["rows"][0]
    assert row["gpu_layers"] == 16 and row["offloaded"] and row["plan"] == "17 of 32 layers in host memory"
    assert abs(row["vram_bytes"] / MIB - run["peak_nvidia_smi_mib"]) / run["peak_nvidia_smi_mib"] < 0.01
    assert row["headroom_bytes"] >= 0
    # host memory: the 17 layers, their KV and the token embeddings, as llama.cpp's CPU buffers of that run
    host_model_kv = run["cpu_model_mib"] + run["kv_mib"] - run["cuda_kv_mib"]
    assert row["host_bytes"] / MIB == pytest.approx(host_model_kv, rel=0.03)
    assert row["launch"]["command"] == "llama-server -m MODEL.gguf -ngl 16 -c 8192 -fa on"


def test_margin_zero_versus_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    zero = _fit(capsys, LLAMA_8B, "-d", "Q4_K_M", "-c", "8192", "--gpu-memory", "3627MiB", "--margin", "0")["rows"][0]
    default = _fit(capsys, LLAMA_8B, "-d", "Q4_K_M", "-c", "8192", "--gpu-memory", "3627MiB")["rows"][0]
    assert default["margin_bytes"] == H.LLAMACPP_FIT_MARGIN.as_int() == 1024 * MIB
    assert default["gpu_layers"] < zero["gpu_layers"]
    assert default["headroom_bytes"] >= 1024 * MIB > zero["headroom_bytes"] >= 0
    # a margin given in any unit; vLLM's default is 1 − gpu_memory_utilization
    half = _fit(capsys, LLAMA_8B, "-d", "Q4_K_M", "-c", "8192", "--gpu-memory", "3627MiB", "--margin", "512MiB")
    assert zero["gpu_layers"] >= half["rows"][0]["gpu_layers"] >= default["gpu_layers"]
    vllm = _fit(capsys, LLAMA_8B, "-d", "bf16", "--engine", "vllm", "--gpu", "H100")["rows"][0]
    assert vllm["launch"]["settings"]["gpu_memory_utilization"] == 0.9
    full = _fit(capsys, LLAMA_8B, "-d", "bf16", "--engine", "vllm", "--gpu", "H100", "--margin", "0")
    assert full["rows"][0]["launch"]["settings"]["gpu_memory_utilization"] == 1
    assert any("CUDA graphs" in w for w in full["warnings"])
    tf = _fit(capsys, LLAMA_8B, "-d", "bf16", "--engine", "transformers", "--gpu", "H100")["rows"][0]
    assert tf["margin_bytes"] == int((tf["budget_bytes"] + tf["margin_bytes"]) * H.TRANSFORMERS_FIT_MARGIN.value)


# --------------------------------------------------------------------------------------------------- MoE


def test_moe_experts_go_to_the_cpu_before_layers(capsys: pytest.CaptureFixture[str]) -> None:
    # Qwen3-30B-A3B Q8_0 (31 GB) on a 24 GB card: every layer stays on the GPU, the experts of the first layers go
    data = _fit(capsys, QWEN3_MOE, "-d", "Q8_0", "--gpu", "RTX 4090", "-c", "16k")
    row = data["rows"][0]
    assert row["fits"] and row["offloaded"]
    assert row["gpu_layers"] == row["n_layers"] == 49
    assert 0 < row["cpu_moe_layers"] < 48
    assert row["launch"]["args"][-2:] == ["--n-cpu-moe", str(row["cpu_moe_layers"])]
    assert row["launch"]["settings"]["n_cpu_moe"] == row["cpu_moe_layers"]
    assert row["vram_bytes"] <= row["budget_bytes"] and row["host_bytes"] > 8e9
    # one expert layer fewer on the CPU would not fit
    assert "experts of" in row["plan"]
    # a small card: every layer's experts on the CPU (-ot exps=CPU), then layers too
    small = _fit(capsys, QWEN3_MOE, "-d", "Q8_0", "--gpu-memory", "3GiB")["rows"][0]
    assert small["fits"] and small["cpu_moe_layers"] == 48
    assert "-ot" in small["launch"]["args"] and "exps=CPU" in small["launch"]["args"]
    assert small["gpu_layers"] < 49


def test_expert_offload_in_the_llamacpp_profile() -> None:
    from vramcalc.calculator.engines import RuntimeRequest, runtime_memory

    arch = architecture_from_config(json.loads((EXAMPLES / "qwen3-30b-a3b" / "config.json").read_text()))
    w = dict(embedding_bytes=10**9, output_bytes=10**9, expert_bytes=24 * 10**9)
    base = runtime_memory(arch, 30 * 10**9, RuntimeRequest(engine="llama.cpp"), **w)  # type: ignore[arg-type]
    half = runtime_memory(arch, 30 * 10**9, RuntimeRequest(engine="llama.cpp", cpu_moe_layers=24),
                          **w)  # type: ignore[arg-type]
    per_layer = 24 * 10**9 // 48
    assert base.weights_on_gpu - half.weights_on_gpu == 24 * per_layer
    assert half.parts["host: routed experts of 24 offloaded layer(s) (--n-cpu-moe)"] == 24 * per_layer
    assert half.kv_cache_bytes == base.kv_cache_bytes  # attention and KV stay on the GPU
    # without expert bytes (what estimate passes) nothing changes
    plain = runtime_memory(arch, 30 * 10**9, RuntimeRequest(engine="llama.cpp", cpu_moe_layers=24),
                           embedding_bytes=10**9, output_bytes=10**9)
    assert plain.weights_on_gpu == base.weights_on_gpu == 29 * 10**9  # repeating 28 GB + the output layer
    assert not any("experts" in k for k in plain.parts)


# --------------------------------------------------------------------------------------------------- multi-GPU


def test_vllm_tensor_and_pipeline_parallel_for_70b(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = _model_dir(tmp_path, "llama-70b", LLAMA_70B)
    two = _fit(capsys, model, "-d", "bf16", "--engine", "vllm", "--gpu", "2xA100-80GB", "-c", "8k")["rows"][0]
    assert two["fits"] and two["tensor_parallel"] == 2 and two["pipeline_parallel"] == 1
    assert two["launch"]["args"][:8] == ["--tensor-parallel-size", "2", "--pipeline-parallel-size", "1",
                                         "--max-model-len", "8192", "--gpu-memory-utilization", "0.9"]
    assert two["launch"]["settings"]["kv_cache_dtype"] == "auto"
    assert len(two["per_gpu"]) == 2
    # each rank holds half the weights; KV heads (8) split over 2
    assert two["per_gpu"][0]["weights_bytes"] == pytest.approx(two["weight_bytes"] / 2, rel=1e-6)
    four = _fit(capsys, model, "-d", "bf16", "--engine", "vllm", "--gpu", "4xA100-80GB", "-c", "8k")["rows"][0]
    assert four["tensor_parallel"] == 4 and four["pipeline_parallel"] == 1 and len(four["per_gpu"]) == 4
    assert four["max_concurrency"] > two["max_concurrency"] >= 1
    assert four["max_context"] > two["max_context"] >= 8192
    # four GPUs read a quarter each: the decode bound about doubles from two
    assert four["speed"]["decode_tokens_per_s_max"] > 1.8 * two["speed"]["decode_tokens_per_s_max"]
    # 3 GPUs: TP cannot divide 64 heads by 3, so pipeline parallel
    three = _fit(capsys, model, "-d", "bf16", "--engine", "vllm", "--gpu", "3xA100-80GB", "-c", "8k")["rows"][0]
    assert (three["tensor_parallel"], three["pipeline_parallel"]) == (1, 3)
    assert "--pipeline-parallel-size" in three["launch"]["args"]
    # one GPU: does not fit, and says how many would
    one = _fit(capsys, model, "-d", "bf16", "--engine", "vllm", "--gpu", "A100-80GB", "-c", "8k")
    assert not one["rows"][0]["fits"] and one["rows"][0]["gpus_needed"] == 2
    assert any("2 GPUs of this size would" in w for w in one["warnings"])


def test_parallel_degrees_and_stages() -> None:
    arch = architecture_from_config(LLAMA_70B)
    assert parallel_degrees(arch, 8) == (8, 1)
    assert parallel_degrees(arch, 6) == (2, 3)
    assert parallel_degrees(arch, 5) == (1, 5)
    assert pp_layers(80, 3) == [27, 27, 26]  # vLLM get_pp_indices: the remainder before the last stage
    assert sum(pp_layers(61, 4)) == 61


def test_llamacpp_layer_split_over_gpus(capsys: pytest.CaptureFixture[str]) -> None:
    row = _fit(capsys, "70B", "-d", "Q4_K_M", "--gpu-memory", "2x24GiB", "-c", "8k")["rows"][0]
    assert row["fits"] and row["gpu_layers"] == 81 and sum(row["tensor_split"]) == 81
    assert row["launch"]["args"][-2] == "-ts"
    shares = row["per_gpu"]
    assert len(shares) == 2 and all(s["total_bytes"] <= row["budget_bytes"] for s in shares)
    # the output layer is on the last GPU, and both pay the CUDA context and compute buffer
    assert shares[1]["layers"] == row["tensor_split"][1]
    assert shares[0]["overhead_bytes"] == shares[1]["overhead_bytes"] > 0
    assert abs(shares[0]["total_bytes"] - shares[1]["total_bytes"]) < 2 * 0.5e9  # balanced within ~a layer


# --------------------------------------------------------------------------------------------------- Apple


def test_apple_36gb_gets_its_unified_memory_limit(capsys: pytest.CaptureFixture[str]) -> None:
    data = _fit(capsys, LLAMA_8B, "-d", "Q4_K_M", "--gpu", "M3 Max 36GB", "-c", "32k")
    assert data["unified_memory"] and data["gpu_memory"] == 24 * GIB  # 2/3 of 36 GiB, macOS's default share
    assert data["ram_bytes"] == 36 * GIB and "12.00 GiB of RAM" in data["gpu_memory_basis"]
    row = data["rows"][0]
    assert row["engine"] == "llama.cpp-metal" and row["fits"]
    assert row["per_gpu"][0]["overhead_bytes"] == 0  # no CUDA context
    assert row["launch"]["command"].startswith("llama-server")
    assert row["speed"]["bandwidth_gbs"] == 300 and row["speed"]["prefill_seconds_min"] is None  # no TFLOPS listed
    cuda = _fit(capsys, LLAMA_8B, "-d", "Q4_K_M", "--gpu-memory", "24GiB", "-c", "32k")["rows"][0]
    assert cuda["engine"] == "llama.cpp" and cuda["vram_bytes"] - row["vram_bytes"] == H.LLAMACPP_UNACCOUNTED.as_int()
    # vLLM does not run there
    bad = run_cli(capsys, "fit", LLAMA_8B, "--engine", "vllm", "--gpu", "M3 Max 36GB")
    assert bad.code == 2 and "Apple" in bad.err


# --------------------------------------------------------------------------------------------------- speed


def test_speed_bound_formula_on_a_known_case() -> None:
    arch = architecture_from_config(json.loads((EXAMPLES / "llama-3.1-8b" / "config.json").read_text()))
    weights = RowWeights(16 * 10**9, 2, 10**9, 10**9)
    row = FitInput("bf16", "transformers", weights, 8 * 10**9, 7 * 10**9)
    dev = Device(1, 80 * GIB, name="test", bandwidth_gbs=2000, bf16_tflops=1000)
    plan = plan_row(row, arch, dev, FitRequest(context=4096))
    speed = plan.speed
    assert speed is not None and plan.fits
    kv = plan.loads[0].kv
    assert kv == 4096 * 32 * 8 * 128 * 2 * 2  # bf16 K and V of 32 layers × 8 heads × 128
    assert speed.bytes_per_step == 15 * 10**9 + kv  # every weight but the token embeddings (a lookup)
    assert speed.decode_per_sequence == pytest.approx(2000e9 / (15 * 10**9 + kv))
    flops = 2 * 7 * 10**9 * 4096 + 32 * 2 * 4096**2 * 32 * 128
    assert prefill_flops(arch, 7 * 10**9, 4096) == speed.prefill_flops == flops
    assert speed.prefill_seconds == pytest.approx(flops / 1000e12)
    assert any("bandwidth ÷ bytes read per step" in f for f in speed.formula)
    # a MoE model reads the routed share of its experts
    moe = architecture_from_config(json.loads((EXAMPLES / "qwen3-30b-a3b" / "config.json").read_text()))
    mrow = FitInput("bf16", "transformers", RowWeights(60 * 10**9, 2, 10**9, 10**9, 0, 56 * 10**9),
                    30 * 10**9, 3 * 10**9)
    mplan = plan_row(mrow, moe, Device(1, 140 * GIB, bandwidth_gbs=4800), FitRequest(context=1024))
    unrouted = 56 * 10**9 * (1 - 8 / 128)  # 8 of 128 experts per token
    assert mplan.speed is not None
    assert mplan.speed.bytes_per_step == pytest.approx(60 * 10**9 - 10**9 - unrouted + mplan.loads[0].kv, abs=2)


def test_speed_needs_the_catalog_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert _fit(capsys, LLAMA_8B, "-d", "Q4_K_M", "--gpu-memory", "24GiB")["rows"][0]["speed"] is None
    row = _fit(capsys, LLAMA_8B, "-d", "Q4_K_M", "--gpu", "H100", "--explain")
    assert row["rows"][0]["speed"]["decode_tokens_per_s_max"] > 0
    assert any("decode ≤ bandwidth" in line for line in row["explain"])
    assert any("prefill ≥ FLOPs" in line for line in row["explain"])


# --------------------------------------------------------------------------------------------------- no model


def test_largest_model_per_format(capsys: pytest.CaptureFixture[str]) -> None:
    data = _fit(capsys, "--gpu", "RTX 4090", "-d", "Q4_K_M", "-d", "Q8_0", "-c", "8k")
    assert data["model"] is None and not data["rows"]
    by = {m["format"]: m for m in data["largest"]}
    assert 30e9 < by["Q4_K_M"]["params"] < 45e9 and 15e9 < by["Q8_0"]["params"] < by["Q4_K_M"]["params"]
    for m in by.values():
        assert "layers" in m["decoder"] and m["fit"]["fits"] and not m["fit"]["offloaded"]
        assert m["fit"]["vram_bytes"] <= m["fit"]["budget_bytes"]
    assert any("representative decoder" in n for n in data["notes"])
    text = run_cli(capsys, "fit", "--gpu", "RTX 4090", "-d", "Q4_K_M")
    assert text.code == 0 and "The largest model on RTX 4090" in text.out


def test_bare_count_is_planned_on_its_representative_decoder(capsys: pytest.CaptureFixture[str]) -> None:
    data = _fit(capsys, "13B-Q4_K_M", "--gpu-memory", "6GiB")
    assert "representative Llama-3-shaped decoder" in data["representative"]
    row = data["rows"][0]
    assert row["format"] == "Q4_K_M" and row["fits"] and row["offloaded"] and row["gpu_layers"] < row["n_layers"]
    assert row["max_context"] <= 131072


# --------------------------------------------------------------------------------------------------- bad input


def test_unknown_gpu_is_one_error_line_with_close_names(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "fit", LLAMA_8B, "--gpu", "RTX 4080 Tii")
    assert result.code == 2 and result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: unknown GPU 'RTX 4080 Tii'") and "RTX 4080" in lines[0]


def test_gpu_and_gpu_memory_together_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "fit", LLAMA_8B, "--gpu", "RTX 4090", "--gpu-memory", "24GiB")
    assert result.code == 2 and result.err.startswith("Error: --gpu and --gpu-memory")
    none = run_cli(capsys, "fit", LLAMA_8B)
    assert none.code == 2 and "needs the GPU" in none.err
    margin = run_cli(capsys, "fit", LLAMA_8B, "--gpu-memory", "24GiB", "--margin", "30GiB")
    assert margin.code == 2 and "--margin" in margin.err
    bare = run_cli(capsys, "fit", LLAMA_8B, "--gpu-memory", "24", "-d", "Q4_K_M")
    assert bare.code == 2 and "no unit" in bare.err


# --------------------------------------------------------------------------------------------------- schema


def test_json_validates_against_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    schema = run_cli(capsys, "schema", "fit")
    assert schema.code == 0
    props = json.loads(schema.out)["properties"]
    assert {"rows", "largest", "gpu", "gpu_count", "gpu_memory", "margin"} <= set(props)
    for args in ([LLAMA_8B, "-d", "Q4_K_M", "-d", "bf16", "--gpu", "2xH100"], ["--gpu", "L4", "-d", "Q4_K_M"]):
        out = run_cli(capsys, "fit", *args, "--json")
        assert out.code == 0, out.err
        report = FitReport.model_validate_json(out.out)
        assert report.model_dump(mode="json") == json.loads(out.out)


def test_text_output_names_plan_and_launch(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "fit", LLAMA_8B, "-d", "Q4_K_M", "--gpu", "RTX 4090")
    assert out.code == 0
    assert "all on the GPU" in out.out and "llama-server -m MODEL.gguf -ngl 33 -c 4096 -fa on" in out.out
    assert "RTX 4090: 24,564 MiB as nvidia-smi reports" in out.out
