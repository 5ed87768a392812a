"""Every format prices a diffusion pipeline: tensors a type cannot hold stay as stored, and a tensor's role comes
from what it is (FLUX's AdaLN modulation weights are Linear weights, not norms)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.test_diffusion import FLUX_CONFIGS


def _flux_configs(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline",
                                                       **{k: ["d", "X"] for k in FLUX_CONFIGS}}))
    for name, cfg in FLUX_CONFIGS.items():
        (root / name).mkdir()
        (root / name / "config.json").write_text(json.dumps(cfg))
    return root


def test_the_default_format_list_prices_a_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # used to exit 1: "llama.cpp has no fallback for Q8_0 on decoder.conv_in.weight (row of 3)"
    result = run_cli(capsys, "estimate", str(_flux_configs(tmp_path)), "--json")
    assert result.code == 0, result.err
    rows = {r["format"]: r for r in result.json()["rows"]}
    assert {"bf16", "Q8_0", "Q4_K_M", "Q2_K"} <= set(rows)
    q8 = rows["Q8_0"]
    # the VAE's 3×3 convolutions (rows of 3) stay BF16: only its mid-block attention matrices are converted
    assert 0.97 * rows["bf16"]["components"]["vae"] < q8["components"]["vae"] < rows["bf16"]["components"]["vae"]
    assert any("no Q8_0 block divides" in k and "stay BF16" in k and "stable-diffusion.cpp" in k for k in q8["kept"])
    # the transformer is converted: Q8_0 is 34 bytes per 32 weights on its matrices
    assert q8["components"]["transformer"] < 0.54 * rows["bf16"]["components"]["transformer"]


def test_fp8_converts_the_modulation_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "estimate", str(_flux_configs(tmp_path)), "-d", "fp8_e4m3", "-d", "bf16",
                   "--json").json()
    fp8, bf16 = data["rows"]
    # black-forest-labs FLUX.1-dev in fp8 (e.g. Kijai/flux-fp8 flux1-dev-fp8-e4m3fn.safetensors): 11.9 GB; the
    # AdaLN layers (3.25B parameters) used to stay BF16 as "norms", which priced it at 15.15 GB
    assert fp8["components"]["transformer"] == pytest.approx(11.9e9, rel=0.01)
    assert bf16["components"]["transformer"] == 2 * 11_901_408_320
    modulation = next(b for b in fp8["breakdown"] if b["tensor_class"] == "modulation")
    assert modulation["params"] > 3.2e9 and set(modulation["types"]) == {"fp8_e4m3", "BF16"}  # weights, biases
    norms = next(b for b in fp8["breakdown"] if b["tensor_class"] == "norms")
    assert norms["params"] < 1e6
    # the note says what stays BF16 by what it is, with its share
    (kept,) = fp8["kept"]
    assert kept.startswith("embeddings, biases, norm scales stay BF16") and "1.0% of the parameters" in kept


def test_inspect_files_modulation_weights_apart_from_norms(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from tests.fixtures_files import write_safetensors

    path = write_safetensors(tmp_path / "t.safetensors", {
        "transformer_blocks.0.norm1.linear.weight": ("BF16", [18432, 3072]),
        "transformer_blocks.0.attn.norm_q.weight": ("BF16", [128]),
    })
    data = run_cli(capsys, "inspect", str(path), "--json").json()
    shares = {s["name"]: s["params"] for s in data["by_class"]}
    assert shares == {"modulation": 18432 * 3072, "norms": 128}


def test_the_stage_model_reads_the_component_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flux = run_cli(capsys, "estimate", str(_flux_configs(tmp_path / "a")), "-d", "bf16", "--json").json()
    narrow = _flux_configs(tmp_path / "b")
    vae = {**FLUX_CONFIGS["vae"], "block_out_channels": [64, 128, 256, 256]}
    (narrow / "vae" / "config.json").write_text(json.dumps(vae))
    small = run_cli(capsys, "estimate", str(narrow), "-d", "bf16", "--json").json()
    # the VAE decode at full resolution sets the resident peak; half the channels, half its activations
    assert small["rows"][0]["activation_bytes"] < 0.6 * flux["rows"][0]["activation_bytes"]


def test_a_pipeline_gets_a_fit_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(_flux_configs(tmp_path))
    data = run_cli(capsys, "estimate", root, "-d", "bf16", "-d", "fp8_e4m3", "--gpu-memory", "24GiB",
                   "--json").json()
    bf16, fp8 = data["rows"]
    assert fp8["total_bytes"] <= 24 * 2**30 < bf16["total_bytes"] and fp8["gpus"] == 1
    # bf16 all resident splits into whole components over 2 GPUs (diffusers' device_map="balanced")
    assert bf16["gpus"] == 2 and "whole components" in bf16["gpu_split"]
    note = next(n for n in data["notes"] if "fits one" in n)
    # used to say "no format here fits … see the GPUs column, or a smaller context" with no GPUs column
    assert "fp8_e4m3" in note and "with every component resident" in note and "context" not in note
    out = run_cli(capsys, "estimate", root, "-d", "bf16", "-d", "fp8_e4m3", "--gpu-memory", "24GiB").out
    assert "GPUs" in out and "context" not in out.split("Pipeline components")[1].split("diffusion pipeline")[0]
    # too small even with offload: said so, without a context to shrink
    tiny = run_cli(capsys, "estimate", root, "-d", "bf16", "--gpu-memory", "8GB", "--json").json()
    assert any("even with model CPU offload" in n for n in tiny["notes"])
