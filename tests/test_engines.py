"""KV cache (exact) and engine totals against real GPU measurements (tests/data/measurements)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.measurements import LLAMACPP, MODELS
from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.engines import RuntimeRequest, architecture_from_flags, runtime_memory
from vramcalc.calculator.kv import kv_bits
from vramcalc.calculator.quantize import plan_format
from vramcalc.errors import UsageError
from vramcalc.readers.config_json import inventory_from_config
from vramcalc.registry import load_registry

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "configs"


def _llamacpp_inputs(model: str) -> tuple[Any, int, int, int]:
    configs = {"Llama-3.1-8B": json.loads((EXAMPLES / "llama-3.1-8b/config.json").read_text()),
               "Llama-3.2-1B": dict(MODELS["Llama-3.2-1B"])}
    reg = load_registry()
    plan = plan_format(inventory_from_config(configs[model], model), reg.get("Q4_K_M"), reg)
    emb = sum(p.nbytes for p in plan.tensors if p.cls == "embeddings")
    out = sum(p.nbytes for p in plan.tensors if p.cls == "lm_head")
    return architecture_from_config(configs[model]), plan.nbytes, emb, out


@pytest.mark.parametrize("run", LLAMACPP["runs"], ids=lambda r: r["tag"])
def test_llamacpp_against_its_own_breakdown(run: dict[str, Any]) -> None:
    arch, nbytes, emb, out = _llamacpp_inputs(run["model"])
    args = run["args"]
    req = RuntimeRequest(engine="llama.cpp", context=int(re.search(r"-c (\d+)", args).group(1)),  # type: ignore[union-attr]
                         gpu_layers=int(re.search(r"-ngl (\d+)", args).group(1)),  # type: ignore[union-attr]
                         flash_attention="-fa on" in args)
    est = runtime_memory(arch, nbytes, req, embedding_bytes=emb, output_bytes=out)
    mib = 2**20
    assert est.kv_cache_bytes / mib == run["cuda_kv_mib"]  # exact, partial offload included
    assert est.weights_on_gpu / mib == pytest.approx(run["cuda_model_mib"], rel=0.01)
    assert est.activation_bytes / mib == pytest.approx(run["cuda_compute_mib"], rel=0.02)
    assert est.total_bytes / mib == pytest.approx(run["peak_nvidia_smi_mib"], rel=0.05)
    # host memory: the model buffer on the CPU (token embeddings, layers not offloaded) and the KV left there
    host_model = est.parts["host: token embeddings"] + est.parts["host: layers not offloaded"]
    assert host_model / mib == pytest.approx(run["cpu_model_mib"], rel=0.02)
    assert est.parts["host: KV of layers not offloaded"] / mib == run["kv_mib"] - run["cuda_kv_mib"]


def test_llamacpp_context_padding_cache_types_and_no_offload() -> None:
    arch, nbytes, emb, out = _llamacpp_inputs("Llama-3.1-8B")
    per_cell = 32 * 8 * 128 * 2 * 2
    est = runtime_memory(arch, nbytes, RuntimeRequest(engine="llama.cpp", context=5000),
                         embedding_bytes=emb, output_bytes=out)
    assert est.kv_cache_bytes == per_cell * 5120  # 5000 → 5120 cells (multiple of 256)
    q8 = runtime_memory(arch, nbytes, RuntimeRequest(engine="llama.cpp", context=5000, kv_dtype="q8_0"),
                        embedding_bytes=emb, output_bytes=out)
    assert q8.kv_cache_bytes == per_cell * 5120 * 17 // 32  # 8.5 of 16 bits
    cpu = runtime_memory(arch, nbytes, RuntimeRequest(engine="llama.cpp", context=5000, gpu_layers=0),
                         embedding_bytes=emb, output_bytes=out)
    assert cpu.weights_on_gpu == 0 and cpu.kv_cache_bytes == 0
    # -ngl 0 still reserves a CUDA compute buffer: op offload copies the output weight in (test_llamacpp_offload.py)
    assert cpu.activation_bytes == est.activation_bytes + out
    assert cpu.host_bytes >= nbytes + per_cell * 5120
    # without flash attention the KQ matrix grows with the context and overtakes the logits
    short = runtime_memory(arch, nbytes, RuntimeRequest(engine="llama.cpp", context=2048, flash_attention=False),
                           embedding_bytes=emb, output_bytes=out)
    long = runtime_memory(arch, nbytes, RuntimeRequest(engine="llama.cpp", context=32768, flash_attention=False),
                          embedding_bytes=emb, output_bytes=out)
    assert short.activation_bytes == est.activation_bytes  # the logits phase still dominates at 2k
    assert long.activation_bytes == 32768 * 512 * 32 * 4 + 32768 * 512 * 4 + 4 * 512 * 4096 * 4


def test_vllm_capacity() -> None:
    arch = architecture_from_config(json.loads((EXAMPLES / "llama-3.1-8b/config.json").read_text()))
    est = runtime_memory(arch, 16_060_522_496, RuntimeRequest(engine="vllm", context=8192))
    assert est.kv_capacity_tokens is not None and est.kv_capacity_tokens % 16 == 0
    per_token = 32 * 8 * 128 * 2 * 2
    # the budget left after weights, the profiled activation peak and non-torch memory (not the CUDA graphs,
    # which vLLM captures afterwards outside the budget)
    free = int(0.9 * 85_017_493_504) - 16_060_522_496 - est.activation_bytes - est.parts["non_torch_memory"]
    assert est.kv_capacity_tokens == free // per_token // 16 * 16
    assert est.max_concurrency == free // (per_token * 8192)
    assert est.kv_cache_bytes == per_token * 8192
    assert est.total_bytes == 16_060_522_496 + est.kv_cache_bytes + est.activation_bytes + est.overhead_bytes
    # on an 18 GB card at 0.9 (16.2 GB) the bf16 weights and the profile run's peak leave no room
    small = runtime_memory(arch, 16_060_522_496, RuntimeRequest(engine="vllm", context=8192, gpu_memory=18 * 10**9))
    assert small.max_concurrency == 0 and any("no room for a KV cache" in w for w in small.warnings)


def test_vllm_flags_at_their_defaults_change_nothing() -> None:
    # --max-num-batched-tokens 8192 used to switch from llm-d's 5.5 GiB constant to the profile-run model
    arch = architecture_from_config(json.loads((EXAMPLES / "llama-3.1-8b/config.json").read_text()))
    plain = runtime_memory(arch, 16_060_522_496, RuntimeRequest(engine="vllm", context=8192))
    for flags in ({"max_num_batched_tokens": 8192}, {"max_num_seqs": 256},
                  {"max_num_batched_tokens": 8192, "max_num_seqs": 256}):
        given = runtime_memory(arch, 16_060_522_496, RuntimeRequest(engine="vllm", context=8192, **flags))
        assert (given.activation_bytes, given.total_bytes, given.kv_capacity_tokens) == (
            plain.activation_bytes, plain.total_bytes, plain.kv_capacity_tokens)
    other = runtime_memory(arch, 16_060_522_496, RuntimeRequest(engine="vllm", context=8192,
                                                                max_num_batched_tokens=2048))
    assert other.activation_bytes < plain.activation_bytes


def test_vllm_profile_run_mechanism() -> None:
    # vllm-project/vllm#10511: Meta-Llama-3-8B on an H100 (V0, 8192 batched tokens, 256 sequences) logs
    # "PyTorch activation peak memory 1.26GiB". Llama-3-8B has Llama-3.1-8B's shapes.
    arch = architecture_from_config(json.loads((EXAMPLES / "llama-3.1-8b/config.json").read_text()))
    est = runtime_memory(arch, 16_060_522_496, RuntimeRequest(engine="vllm", context=8192,
                                                              max_num_batched_tokens=8192, max_num_seqs=256))
    assert est.activation_bytes == pytest.approx(1.26 * 2**30, rel=0.10)
    assert "activations: MLP" in est.parts and "activations: sampler" in est.parts
    more = runtime_memory(arch, 16_060_522_496, RuntimeRequest(engine="vllm", context=8192,
                                                               max_num_batched_tokens=16384, max_num_seqs=256))
    assert more.activation_bytes > est.activation_bytes and more.kv_capacity_tokens < est.kv_capacity_tokens


def test_vllm_sliding_window_concurrency() -> None:
    g2 = architecture_from_config(json.loads((EXAMPLES / "gemma-2-9b/config.json").read_text()))
    est = runtime_memory(g2, 18_483_000_000, RuntimeRequest(engine="vllm", context=8192, max_num_batched_tokens=2048))
    per_layer = 8 * 256 * 2 * 2
    per_seq = 21 * per_layer * 8192 + 21 * per_layer * (-(-min(4095 + 2048, 8192) // 16) + 1) * 16
    assert est.kv_cache_bytes == per_seq
    free = int(0.9 * 85_017_493_504) - 18_483_000_000 - est.activation_bytes - est.parts["non_torch_memory"]
    assert est.max_concurrency == free // per_seq


def test_bad_runtime_requests() -> None:
    with pytest.raises(UsageError, match="choose one of: transformers, vllm, llama.cpp"):
        runtime_memory(None, 1, RuntimeRequest(engine="tgi"))
    with pytest.raises(UsageError, match="choose one of"):
        kv_bits("q7_k")
    with pytest.raises(UsageError, match="must be positive"):
        runtime_memory(None, 1, RuntimeRequest(context=0))
    with pytest.raises(UsageError, match="must be positive"):
        runtime_memory(None, 1, RuntimeRequest(batch=-1))
    with pytest.raises(UsageError, match="not in"):
        runtime_memory(None, 1, RuntimeRequest(engine="vllm", gpu_memory_utilization=1.5))
    with pytest.raises(UsageError, match="llama.cpp cannot store its KV cache as 'fp8'"):
        runtime_memory(None, 1, RuntimeRequest(engine="llama.cpp", kv_dtype="fp8"))
    with pytest.raises(UsageError, match="--layers must be positive"):
        architecture_from_flags(0, 8, 128)


def test_bare_count_and_flags() -> None:
    bare = runtime_memory(None, 16 * 10**9, RuntimeRequest())
    assert bare.kv_cache_bytes == 0 and bare.total_bytes == 16 * 10**9 + bare.overhead_bytes
    assert any("--kv-heads" in n for n in bare.notes)
    arch = architecture_from_flags(32, 8, 128, heads=32)
    est = runtime_memory(arch, 16 * 10**9, RuntimeRequest(context=8192))
    assert est.kv_cache_bytes == 32 * 8 * 128 * 2 * 2 * 8192 and est.activation_bytes > 0


def test_context_above_the_model_maximum_warns() -> None:
    arch = architecture_from_config(json.loads((EXAMPLES / "llama-3.1-8b/config.json").read_text()))
    est = runtime_memory(arch, 1, RuntimeRequest(context=200_000))
    assert any("above the model's maximum (131,072)" in w for w in est.warnings)
    assert not runtime_memory(arch, 1, RuntimeRequest(context=131_072)).warnings


def test_transformers_sliding_layers_pin_the_prompt_during_prefill() -> None:
    g2 = architecture_from_config(json.loads((EXAMPLES / "gemma-2-9b/config.json").read_text()))
    est = runtime_memory(g2, 18_483_000_000, RuntimeRequest(context=16384))
    pinned = est.parts["activations: sliding-layer KV during prefill"]
    assert pinned == 21 * 8 * 256 * 2 * 2 * (16384 - 4095)
    # the sliding-window mask (4096 ≤ 16384 tokens) is materialised as a bool tensor
    assert est.parts["activations: attention mask"] == 16384 * 16384


def test_estimate_cli_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", str(EXAMPLES / "llama-3.1-8b"), "-d", "bf16", "--context", "8192", "--json")
    assert r.code == 0, r.err
    row = r.json()["rows"][0]
    assert row["kv_cache_bytes"] == 32 * 8 * 128 * 2 * 2 * 8192
    assert row["total_bytes"] == row["weight_bytes"] + row["kv_cache_bytes"] + row["activation_bytes"] + \
        row["overhead_bytes"]
