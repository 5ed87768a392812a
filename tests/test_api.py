"""The Python API returns the very report objects `--json` prints, raises vramcalc's errors, and prints nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import vramcalc
from tests.cli_helpers import run_cli
from vramcalc.errors import UsageError
from vramcalc.reports import EstimateReport

LLAMA_8B = str(Path(__file__).resolve().parents[1] / "examples" / "configs" / "llama-3.1-8b")


def test_estimate_is_the_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    report = vramcalc.estimate(LLAMA_8B, formats=["bf16", "Q4_K_M"], context="8k", gpu_memory="24GiB")
    assert isinstance(report, EstimateReport)
    assert capsys.readouterr() == ("", "")  # nothing printed
    cli = run_cli(capsys, "estimate", LLAMA_8B, "-d", "bf16", "-d", "Q4_K_M", "-c", "8k", "--gpu-memory", "24GiB",
                  "--json").json()
    assert report.model_dump(mode="json") == cli
    assert vramcalc.estimate("12B", formats=["bf16"]).rows[0].weight_bytes == 24_000_000_000
    # numbers where the CLI takes strings
    assert vramcalc.estimate(LLAMA_8B, formats=["bf16"], context=8192, gpu_memory=24 * 2**30).model_dump() == \
        vramcalc.estimate(LLAMA_8B, formats=["bf16"], context="8k", gpu_memory="24GiB").model_dump()


def test_the_other_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert vramcalc.inspect(LLAMA_8B).params == 8_030_261_248
    pair = vramcalc.compare(["13B-Q4_K_M", "7B-Q8_0"])
    assert [e.format for e in pair.entries] == ["Q4_K_M", "Q8_0"]
    assert [f.name for f in vramcalc.formats(["Q4_K_M"]).formats] == ["Q4_K_M"]
    assert vramcalc.gpus(["RTX 4090"]).model_dump(mode="json") == run_cli(capsys, "gpus", "RTX 4090",
                                                                           "--json").json()


def test_bad_input_raises_vramcalc_errors() -> None:
    with pytest.raises(UsageError, match="cannot read model"):
        vramcalc.estimate("twelve")
    with pytest.raises(UsageError, match="both give"):
        vramcalc.estimate("7B", gpu="RTX 4090", gpu_memory="24GiB")
    with pytest.raises(AttributeError):
        vramcalc.nothing  # noqa: B018


def test_importing_vramcalc_stays_light() -> None:
    code = "import sys, vramcalc; print(sorted(m for m in sys.modules if m.startswith(('vramcalc.', 'pydantic'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_train_is_the_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    report = vramcalc.train(LLAMA_8B, methods=["lora"], seq_len=1024)
    cli = run_cli(capsys, "train", LLAMA_8B, "--method", "lora", "--seq-len", "1024", "--json").json()
    assert report.model_dump(mode="json") == cli


def test_fit_is_the_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    report = vramcalc.fit(LLAMA_8B, gpu="RTX 4090", formats=["bf16", "Q4_K_M"], context="8k")
    assert capsys.readouterr() == ("", "")
    cli = run_cli(capsys, "fit", LLAMA_8B, "--gpu", "RTX 4090", "-d", "bf16", "-d", "Q4_K_M", "-c", "8k",
                  "--json").json()
    assert report.model_dump(mode="json") == cli
    # numbers where the CLI takes strings; several GPUs by memory; the largest model without one
    assert vramcalc.fit(LLAMA_8B, gpu_memory=24 * 2**30, formats=["bf16"], margin=0).model_dump() == \
        vramcalc.fit(LLAMA_8B, gpu_memory="24GiB", formats=["bf16"], margin="0").model_dump()
    two = vramcalc.fit(LLAMA_8B, gpu_memory="2x80GiB", formats=["bf16"])
    assert two.model_dump(mode="json") == run_cli(capsys, "fit", LLAMA_8B, "--gpu-memory", "2x80GiB", "-d", "bf16",
                                                  "--json").json()
    assert vramcalc.fit(gpu="RTX 4090", formats=["Q4_K_M"]).model_dump(mode="json") == \
        run_cli(capsys, "fit", "--gpu", "RTX 4090", "-d", "Q4_K_M", "--json").json()
    with pytest.raises(UsageError, match="needs the GPU"):
        vramcalc.fit(LLAMA_8B)
    assert set(vramcalc.__all__) <= set(dir(vramcalc.api)) | {"__version__"}
