"""Inputs that used to be misread silently: each is refused with a clear `Error:` line (exit 2) or warned about."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

LLAMA_8B = str(Path(__file__).parent.parent / "examples" / "configs" / "llama-3.1-8b")


@pytest.mark.parametrize("size", ["24", "4090", "80 b", "24B"])
def test_a_gpu_memory_without_a_unit_is_refused(capsys: pytest.CaptureFixture[str], size: str) -> None:
    # "24" used to be 24 bytes ("GPUs of 0.00 MB", exit 0)
    result = run_cli(capsys, "estimate", "7B", "--gpu-memory", size)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("Error: --gpu-memory") and "no unit" in result.err and "GiB" in result.err


def test_a_gpu_memory_with_a_unit_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "estimate", "7B", "-d", "bf16", "--gpu-memory", "24GiB", "--json").json()
    assert data["gpu_memory"] == 24 * 2**30 and data["rows"][0]["gpus"] == 1


def test_qlora_is_not_a_format(capsys: pytest.CaptureFixture[str]) -> None:
    # it used to be an alias of nf4_dq inference, saying nothing about training
    result = run_cli(capsys, "estimate", "7B", "-d", "qlora")
    assert result.code == 2 and "fine-tuning method" in result.err and "-d nf4_dq" in result.err


def test_as_stored_on_a_config_only_folder_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    # it used to print an empty table with exit 0
    result = run_cli(capsys, "estimate", LLAMA_8B, "-d", "as stored")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("Error: ") and "no stored weights" in result.err and "--dtype" in result.err
