"""Engine knobs reach the calculator from the command line: each flag changes the number it should, and only it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli

LLAMA = str(Path(__file__).resolve().parents[1] / "examples" / "configs" / "llama-3.1-8b")


def _row(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    r = run_cli(capsys, "estimate", LLAMA, "-d", "Q4_K_M", "--json", *args)
    assert r.code == 0, r.err
    row: dict[str, Any] = r.json()["rows"][0]
    return row


def test_ubatch_size_sizes_llamacpps_compute_buffer_not_its_kv(capsys: pytest.CaptureFixture[str]) -> None:
    small = _row(capsys, "--engine", "llama.cpp", "--ubatch-size", "128")
    default = _row(capsys, "--engine", "llama.cpp")
    big = _row(capsys, "--engine", "llama.cpp", "-ub", "2048")
    assert small["kv_cache_bytes"] == default["kv_cache_bytes"] == big["kv_cache_bytes"]
    assert small["activation_bytes"] < default["activation_bytes"] < big["activation_bytes"]


def test_vllm_step_limits_change_the_profile_run(capsys: pytest.CaptureFixture[str]) -> None:
    default = _row(capsys, "--engine", "vllm", "--max-num-batched-tokens", "8192")
    wide = _row(capsys, "--engine", "vllm", "--max-num-batched-tokens", "32768", "--max-num-seqs", "512")
    # the budget is fixed (0.9 × the GPU): a bigger profile run leaves fewer tokens for the KV cache
    assert wide["activation_bytes"] > default["activation_bytes"]
    assert wide["kv_capacity_tokens"] < default["kv_capacity_tokens"]
    assert wide["total_bytes"] - default["total_bytes"] == wide["activation_bytes"] - default["activation_bytes"]


def test_kv_dtype_the_engine_cannot_allocate_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "8B", "--engine", "vllm", "--kv-dtype", "q4_0")
    assert r.code == 2 and r.err.startswith("Error: vllm cannot store its KV cache as 'q4_0'")
    ok = _row(capsys, "--engine", "llama.cpp", "--kv-dtype", "q8_0")
    f16 = _row(capsys, "--engine", "llama.cpp")
    assert ok["kv_cache_bytes"] * 32 == f16["kv_cache_bytes"] * 17  # q8_0: 34 bytes per 32 values vs 64


def test_group_size_minus_one_is_one_group_per_row(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "8B", "-d", "gptq", "--group-size", "-1", "--json")
    assert r.code == 0, r.err
    per_row = r.json()["rows"][0]
    g128 = run_cli(capsys, "estimate", "8B", "-d", "gptq", "--group-size", "128", "--json").json()["rows"][0]
    assert per_row["format"].endswith("-g-1") and per_row["bits_per_weight"] < g128["bits_per_weight"]
    bad = run_cli(capsys, "estimate", "8B", "-d", "gptq", "--group-size", "0")
    assert bad.code == 2 and "group size 0 is not possible" in bad.err


def test_gpu_memory_marks_the_limit_in_the_context_chart(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", LLAMA, "-d", "bf16", "-c", "8k,128k", "--gpu-memory", "24GB")
    assert r.code == 0, r.err
    lines = [ln for ln in r.out.splitlines() if "┃" in ln and "(bf16)" in ln]
    assert len(lines) == 2 and "exceeds the GPU" in lines[1] and "exceeds" not in lines[0]


def test_help_lists_every_command_and_a_typo_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    # main() hands typer only the command being run; without one, or with an unknown one, the whole app
    top = run_cli(capsys, "--help")
    assert top.code == 0 and all(c in top.out for c in ("estimate", "inspect", "compare", "formats", "schema"))
    typo = run_cli(capsys, "estimat", "7B")
    assert typo.code == 2 and typo.err.startswith("Error: No such command 'estimat'. Did you mean 'estimate'?")
    sub = run_cli(capsys, "estimate", "--help")
    assert sub.code == 0 and "Usage: vramcalc estimate" in sub.out and "--gpu-memory" in sub.out


def test_engine_auto_runs_gguf_in_llamacpp(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tests.fixtures_files import write_gguf

    label = run_cli(capsys, "estimate", "32B-Q4_K_M", "--json").json()
    assert label["engine"] == "llama.cpp" and any("engine llama.cpp" in n for n in label["notes"])
    mixed = run_cli(capsys, "estimate", "12B", "--json").json()  # the default rows: bf16, fp8, nf4 … and K-quants
    assert mixed["engine"] == "per row"
    engines = {r["format"]: r["engine"] for r in mixed["rows"]}
    assert engines["bf16"] == engines["nf4"] == "transformers" and engines["Q4_K_M"] == engines["Q8_0"] == "llama.cpp"
    assert any("engine chosen per row" in n for n in mixed["notes"])
    gguf = run_cli(capsys, "estimate", str(write_gguf(tmp_path / "m.gguf")), "--json").json()
    engines = {r["format"]: r["engine"] for r in gguf["rows"]}
    assert engines["as stored"] == engines["Q4_K_M"] == "llama.cpp" and engines["bf16"] == "transformers"
    chosen = run_cli(capsys, "estimate", "32B-Q4_K_M", "--engine", "vllm", "--json").json()
    assert chosen["engine"] == "vllm"
    bad = run_cli(capsys, "estimate", "7B", "--engine", "tgi")
    assert bad.code == 2 and "'tgi' is not one of 'auto', 'transformers', 'vllm', 'llama.cpp'" in bad.err


def test_a_request_is_not_changed_by_estimating_with_it() -> None:
    from vramcalc.calculator.engines import RuntimeRequest
    from vramcalc.estimate_report import EstimateRequest, estimate_count
    from vramcalc.registry import load_registry
    from vramcalc.units import parse_label

    registry = load_registry()
    request = EstimateRequest(runtime=RuntimeRequest(engine="auto"))
    gguf = estimate_count(parse_label("8B-Q4_K_M"), request, registry)
    dense = estimate_count(parse_label("8B"), EstimateRequest(formats=["bf16"], runtime=request.runtime), registry)
    assert (gguf.engine, dense.engine) == ("llama.cpp", "transformers")
    assert request.runtime.engine == "auto" and request.runtime.context == 4096


def test_vllm_holds_its_whole_budget(capsys: pytest.CaptureFixture[str]) -> None:
    from vramcalc import heuristics as H

    row = _row(capsys, "--engine", "vllm", "--gpu-memory", "24GB", "--gpu-memory-utilization", "0.8")
    # what nvidia-smi shows: 0.8 × 24 GB whatever the model needs, plus the CUDA graphs captured after it
    assert row["process_bytes"] == int(24e9 * 0.8) + H.VLLM_CUDA_GRAPHS.as_int()
    assert row["total_bytes"] < row["process_bytes"]
    assert _row(capsys, "--engine", "llama.cpp")["process_bytes"] is None
    table = run_cli(capsys, "estimate", LLAMA, "-d", "Q4_K_M", "-e", "vllm").out
    assert "vLLM holds" in table


@pytest.mark.parametrize("columns", ["80", "100", "160"])
def test_no_number_is_cut_short_on_narrow_terminals(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    # the widest table: every column (KV, activations, GPUs, vLLM's budget, max context)
    monkeypatch.setenv("COLUMNS", columns)
    out = run_cli(capsys, "estimate", LLAMA, "-d", "bf16", "-d", "Q4_K_M", "-e", "vllm",
                  "--gpu-memory", "24GB").out
    table = out.split("█")[0]
    # (vLLM's profile run at its default 8192 batched tokens: bf16 fits one 24 GB card up to 31,600 tokens)
    assert "…" not in table and "31,600" in table and "116,640" in table
    assert all(len(line) <= int(columns) for line in out.splitlines())
