"""Every example in examples/ runs, as a user would run it from a shell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _vramcalc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vramcalc", *args], capture_output=True, text=True, env=_env(), timeout=60
    )


def test_gpus_needed_example() -> None:
    report = _vramcalc("estimate", "70B", "--dtype", "bf16", "--dtype", "Q4_K_M", "--json")
    assert report.returncode == 0, report.stderr
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "gpus_needed.py"), "--gpu", "80GB"],
        input=report.stdout, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # 140 GB of bf16 weights need two 80 GB cards; 4.5-bit Q4_K (base type) fits one.
    assert any(line.split()[0] == "bf16" and line.endswith("2 GPU(s)") for line in lines[1:])
    assert any(line.split()[0] == "Q4_K_M" and line.endswith("1 GPU(s)") for line in lines[1:])


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_jq_example() -> None:
    proc = subprocess.run(
        ["bash", str(EXAMPLES / "fits_in_24gb.sh")], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    fits = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert "Q4_K_M" in fits and "bf16" not in fits


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_longest_context_example() -> None:
    proc = subprocess.run(
        ["bash", str(EXAMPLES / "longest_context.sh")], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    tokens = {line.split("\t")[0]: int(line.split("\t")[1].split()[0]) for line in proc.stdout.splitlines()}
    # fewer bits per weight leave more of the 24 GB to the KV cache; fp32 weights alone do not fit
    # (the GGUF rows run under llama.cpp: from Q4_K_M down they reach the model's 131,072-token maximum)
    assert tokens["fp32"] == 0 < tokens["bf16"] < tokens["Q8_0"] < tokens["Q4_K_M"] == tokens["Q2_K"] == 131_072


@pytest.mark.parametrize(
    "config", sorted(EXAMPLES.glob("configs/*/config.json")), ids=lambda p: p.parent.name
)
def test_example_configs_estimate(config: Path) -> None:
    proc = _vramcalc("estimate", str(config), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["model"]["params"] > 0 and data["rows"]
