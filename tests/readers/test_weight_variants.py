"""One copy of the weights: a folder or repo that also holds `variant=` copies (diffusers' `*.fp16.safetensors`)
counts the full-precision files once and says so — locally and on the Hub, by the same rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import safetensors_bytes, write_safetensors
from tests.hub_server import FakeHub, RemoteFile
from vramcalc.readers import read_local

FULL = {"proj.weight": ("F32", [64, 64]), "proj.bias": ("F32", [64])}
HALF = {"proj.weight": ("F16", [64, 64]), "proj.bias": ("F16", [64])}
PARAMS = 64 * 64 + 64


def _remote(tensors: dict[str, tuple[str, list[int]]]) -> RemoteFile:
    head, data_len = safetensors_bytes(tensors)
    return RemoteFile(head, len(head) + data_len)


def test_a_folder_with_an_fp16_copy_counts_the_full_one_once(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model.safetensors", FULL)
    write_safetensors(tmp_path / "model.fp16.safetensors", HALF)
    inv = read_local(tmp_path)
    assert inv.total_params == PARAMS and {t.dtype for t in inv.tensors} == {"F32"}
    assert [Path(f.path).name for f in inv.files] == ["model.safetensors"]
    assert any("fp16 variant" in w for w in inv.warnings)


def test_only_variants_reads_the_preferred_one(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model.fp16.safetensors", HALF)
    write_safetensors(tmp_path / "model.ema.safetensors", FULL)
    inv = read_local(tmp_path)
    assert inv.total_params == PARAMS and {t.dtype for t in inv.tensors} == {"F16"}
    assert any("ema" in w for w in inv.warnings)


def test_a_name_with_a_dot_is_not_a_variant(tmp_path: Path) -> None:
    # two distinct weight files whose names merely hold a dot are both weights
    write_safetensors(tmp_path / "part.a.safetensors", FULL)
    write_safetensors(tmp_path / "part.b.safetensors", {"other.weight": ("F32", [8, 8])})
    assert read_local(tmp_path).total_params == PARAMS + 64


def _pipeline_files() -> dict[str, tuple[str, dict[str, tuple[str, list[int]]]]]:
    return {"unet/diffusion_pytorch_model.safetensors": ("unet", FULL),
            "unet/diffusion_pytorch_model.fp16.safetensors": ("unet", HALF),
            "vae/diffusion_pytorch_model.safetensors": ("vae", {"conv.weight": ("F32", [8, 4, 3, 3])}),
            "vae/diffusion_pytorch_model.fp16.safetensors": ("vae", {"conv.weight": ("F16", [8, 4, 3, 3])})}


INDEX = json.dumps({"_class_name": "StableDiffusionXLPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
                    "vae": ["diffusers", "AutoencoderKL"]})


def test_a_pipeline_component_with_an_fp16_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model_index.json").write_text(INDEX)
    for path, (_, tensors) in _pipeline_files().items():
        write_safetensors(tmp_path / path, tensors)
    data = run_cli(capsys, "inspect", str(tmp_path), "--json").json()
    assert data["params"] == PARAMS + 8 * 4 * 9
    assert {c["name"]: c["params"] for c in data["by_component"]} == {"unet": PARAMS, "vae": 8 * 4 * 9}
    assert sum("fp16 variant" in w for w in data["warnings"]) == 2


def test_the_hub_applies_the_same_rule(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/sdxl", {"model_index.json": INDEX.encode(),
                              **{p: _remote(t) for p, (_, t) in _pipeline_files().items()}})
    fake_hub.add("org/single", {"model.safetensors": _remote(FULL), "model.fp16.safetensors": _remote(HALF)})
    pipe = run_cli(capsys, "inspect", "org/sdxl", "--json")
    assert pipe.code == 0, pipe.err
    assert pipe.json()["params"] == PARAMS + 8 * 4 * 9
    assert sum("fp16 variant" in w for w in pipe.json()["warnings"]) == 2
    single = run_cli(capsys, "inspect", "org/single", "--json").json()
    assert single["params"] == PARAMS and [d["name"] for d in single["by_dtype"]] == ["F32"]


def test_a_partial_pipeline_is_assembled_alike_locally_and_on_the_hub(
        fake_hub: FakeHub, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # the VAE ships weights (and an fp16 copy); the text encoders and the transformer only their configs: both
    # readers count the configs the same way (readers/assemble.py), and say so
    from tests.test_diffusion import COMPONENTS, FLUX_CONFIGS

    index = {"_class_name": "FluxPipeline", "scheduler": ["d", "S"], **{k: ["d", "X"] for k in FLUX_CONFIGS}}
    files: dict[str, bytes | RemoteFile] = {"model_index.json": json.dumps(index).encode(),
                                            "scheduler/scheduler_config.json": b"{}"}
    files |= {f"{k}/config.json": json.dumps(v).encode() for k, v in FLUX_CONFIGS.items() if k != "vae"}
    files["vae/config.json"] = json.dumps(FLUX_CONFIGS["vae"]).encode()
    files["vae/diffusion_pytorch_model.safetensors"] = _remote(FULL)
    files["vae/diffusion_pytorch_model.fp16.safetensors"] = _remote(HALF)
    fake_hub.add("org/flux", files)
    for name, body in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, RemoteFile):
            write_safetensors(path, FULL if ".fp16." not in name else HALF)
        else:
            path.write_bytes(body)
    hub = run_cli(capsys, "inspect", "org/flux", "--json")
    assert hub.code == 0, hub.err
    local = run_cli(capsys, "inspect", str(tmp_path), "--json").json()
    expected = sum(n for k, n in COMPONENTS.items() if not k.startswith("vae/")) + PARAMS
    assert hub.json()["params"] == local["params"] == expected
    for data in (hub.json(), local):
        assert {c["name"] for c in data["by_component"]} == {"text_encoder", "text_encoder_2", "transformer", "vae"}
        assert any("counted from config.json" in w for w in data["warnings"])
        assert any("fp16 variant" in w for w in data["warnings"])
