"""Every bundled config through every engine and the main flags: no crash, and each row's parts add up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

CONFIGS = sorted(p.parent.name for p in (Path(__file__).resolve().parents[1] / "examples" / "configs").glob(
    "*/config.json") if p.parent.name != "deepseek-v3")  # DeepSeek-V3 (90k tensors) has its own tests
FLAGS = [
    ["-e", "transformers", "-c", "8k,32k"],
    ["-e", "vllm", "--gpu-memory", "80GB", "-b", "4"],
    ["-e", "llama.cpp", "-ngl", "10", "--kv-dtype", "q8_0"],
    ["--gpu-memory", "24GB", "-d", "bf16", "-d", "Q4_K_M", "-d", "gptq", "--group-size", "-1"],
]


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: " ".join(f))
@pytest.mark.parametrize("config", CONFIGS)
def test_estimate_matrix(config: str, flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    path = str(Path(__file__).resolve().parents[1] / "examples" / "configs" / config)
    r = run_cli(capsys, "estimate", path, *flags, "--json")
    assert r.code == 0, r.err
    for row in r.json()["rows"]:
        on_gpu = row["total_bytes"] - row["kv_cache_bytes"] - row["activation_bytes"] - row["overhead_bytes"]
        assert 0 < on_gpu <= row["weight_bytes"]  # llama.cpp keeps some weights in host memory
    table = run_cli(capsys, "estimate", path, *flags)
    assert table.code == 0 and "VRAM" in table.out
