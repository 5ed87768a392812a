"""Diffusion pipelines: weights per component, all resident vs model CPU offload — FLUX.1-dev: 24 GB or 12?"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import write_safetensors

# Parameter counts of the FLUX.1-dev pipeline components (black-forest-labs/FLUX.1-dev on the Hub: transformer
# 11.9B, text_encoder_2 = T5-XXL encoder 4.76B, text_encoder = CLIP-L 123M, vae 83.8M).
COMPONENTS = {
    "transformer/diffusion_pytorch_model.safetensors": 11_901_408_320,
    "text_encoder_2/model.safetensors": 4_762_310_656,
    "text_encoder/model.safetensors": 123_060_480,
    "vae/diffusion_pytorch_model.safetensors": 83_819_683,
}


def _flux(root: Path) -> Path:
    (root / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline", "transformer": ["d", "X"],
                                                       "text_encoder": ["t", "C"], "text_encoder_2": ["t", "T"],
                                                       "vae": ["d", "V"]}))
    for path, n in COMPONENTS.items():
        rows, rest = divmod(n, 3072)
        write_safetensors(root / path, {"blocks.0.proj.weight": ("BF16", [rows, 3072]),
                                        "blocks.0.proj.bias": ("BF16", [rest or 1])})
    return root


def _flux_with_config(root: Path) -> Path:
    # black-forest-labs/FLUX.1-dev transformer/config.json: num_attention_heads 24, attention_head_dim 128
    _flux(root)
    (root / "transformer" / "config.json").write_text(json.dumps({
        "_class_name": "FluxTransformer2DModel", "num_attention_heads": 24, "attention_head_dim": 128}))
    return root


def test_flux_pipeline_cli_uses_the_stage_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vramcalc import heuristics as H
    from vramcalc.calculator.diffusion import DiTShape, pipeline_memory

    root = _flux_with_config(tmp_path)
    data = run_cli(capsys, "estimate", str(root), "-d", "bf16", "--json").json()
    (row,) = data["rows"]
    mem = pipeline_memory(row["components"], denoiser=DiTShape(hidden_size=3072))
    assert row["total_bytes"] == mem.all_resident_bytes and row["offload_peak_bytes"] == mem.offload_peak_bytes
    # 1024×1024: the transformer stage (23.8 GB + its 4,608 tokens) is the offload peak, as in the library test
    assert round(row["total_bytes"] / 1e9, 1) == 37.6 and round(row["offload_peak_bytes"] / 1e9, 1) == 25.5
    assert data["context_sweep"] == [] and any("offload" in n for n in data["notes"])
    names = {h["name"] for h in data["heuristics"]}
    # every constant of the stage walks is named (VAE decoder, DiT blocks, T5 encoder); the default image size too
    assert {h.name for h in mem.heuristics} | {H.DEFAULT_RESOLUTION.name} == names
    assert {H.VAE_CONV_NHWC_COPIES.name, H.DIT_ROPE_FP32.name, H.T5_SOFTMAX_FP32.name, H.CUBLAS_WORKSPACE.name,
            H.CUDA_CONTEXT.name, H.DEFAULT_RESOLUTION.name} <= names
    # a wider image: more latent patches for the transformer and more pixels for the VAE decode
    wide = run_cli(capsys, "estimate", str(root), "-d", "bf16", "--resolution", "2048x1024", "--json").json()
    assert H.DEFAULT_RESOLUTION.name not in {h["name"] for h in wide["heuristics"]}
    assert wide["rows"][0]["activation_bytes"] > row["activation_bytes"]
    assert wide["rows"][0]["offload_peak_bytes"] > row["offload_peak_bytes"]
    assert "2048×1024" in " ".join(wide["notes"])


@pytest.mark.parametrize("bad", ["big", "0x10", "1024x"])
def test_bad_resolution_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    result = run_cli(capsys, "estimate", "7B", "--resolution", bad)
    assert result.code == 2 and result.err.startswith("Error: ") and "--resolution 1024" in result.err


def test_flux_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "estimate", str(_flux(tmp_path)), "-d", "bf16", "-d", "fp8_e4m3", "--json").json()
    bf16, fp8 = data["rows"]
    assert bf16["kv_cache_bytes"] == 0
    assert bf16["components"]["transformer"] == pytest.approx(2 * 11_901_408_320, abs=8)
    assert bf16["weight_bytes"] == pytest.approx(2 * sum(COMPONENTS.values()), abs=32)
    # All resident: every component; model CPU offload: the largest one (the transformer) at a time.
    assert bf16["total_bytes"] == bf16["weight_bytes"] + bf16["activation_bytes"] + bf16["overhead_bytes"]
    # (the transformer's own activations at most — never less than the transformer and the overhead)
    assert bf16["components"]["transformer"] + bf16["overhead_bytes"] <= bf16["offload_peak_bytes"] <= \
        bf16["components"]["transformer"] + bf16["activation_bytes"] + bf16["overhead_bytes"]
    # "24 GB or 12 GB?": the bf16 transformer alone is 23.8 GB; in fp8 it is about half.
    assert round(bf16["components"]["transformer"] / 1e9, 1) == 23.8
    assert round(fp8["components"]["transformer"] / 1e9, 1) == 11.9
    assert "diffusion pipeline" in " ".join(data["notes"])


def test_pipeline_memory_flux_dev_shaped() -> None:
    from vramcalc.calculator.diffusion import DiTShape, pipeline_memory
    from vramcalc.errors import UsageError
    from vramcalc.heuristics import CUBLAS_WORKSPACE, CUDA_CONTEXT

    # bf16 weights of the FLUX.1-dev components (counts above); the transformer's hidden size is 24 heads × 128
    # (black-forest-labs/FLUX.1-dev transformer/config.json: num_attention_heads 24, attention_head_dim 128)
    comps = {"transformer": 2 * 11_901_408_320, "text_encoder_2": 2 * 4_762_310_656,
             "text_encoder": 2 * 123_060_480, "vae": 2 * 83_819_683}
    mem = pipeline_memory(comps, height=1024, width=1024, denoiser=DiTShape(hidden_size=3072))
    # held by the pipeline through both stages: latents + last noise prediction (4,096 × 64), T5 + pooled embeddings
    held = 2 * 4096 * 64 * 2 + (512 * 4096 + 768) * 2
    vae_act = 1216 * 1024 * 1024 * 2  # the last Upsample2D conv (tests/test_diffusion_activations.py)
    dit_act = (64 * 64 + 512) * (17 * 3072 * 2 + 2 * 128 * 4)  # 4,096 image patches + 512 T5 tokens
    t5_act = 64 * 512 ** 2 * (2 * 2 + 2 * 4) + 6 * 512 * 4096 * 2  # eager attention scores + hidden tensors
    by_name = {s.component: s for s in mem.stages}
    assert by_name["vae"].activation_bytes == vae_act + held
    assert by_name["transformer"].activation_bytes == dit_act + held
    assert by_name["text_encoder_2"].activation_bytes == t5_act and by_name["text_encoder"].activation_bytes == 0
    # all resident: every weight + the largest stage's activations (stages run one after another)
    overhead = CUDA_CONTEXT.as_int() + CUBLAS_WORKSPACE.as_int()
    assert mem.all_resident_bytes == sum(comps.values()) + vae_act + held + overhead
    # model CPU offload: one component at a time — the transformer with its own activations, not the VAE's
    assert mem.offload_stage is not None and mem.offload_stage.component == "transformer"
    assert mem.offload_peak_bytes == comps["transformer"] + dit_act + held + overhead
    assert round(mem.all_resident_bytes / 1e9, 1) == 37.6 and round(mem.offload_peak_bytes / 1e9, 1) == 25.5
    # twice the pixels, twice the VAE decode; an fp32-upcast VAE (SDXL) doubles it again (no denoiser shape:
    # the pipeline-held tensors are FLUX's defaults, in the pipeline's dtype)
    big = pipeline_memory(comps, height=2048, width=1024, vae_act_bytes=4)
    big_held = 2 * 8192 * 64 * 2 + (512 * 4096 + 768) * 2
    assert {s.component: s for s in big.stages}["vae"].activation_bytes == 4 * vae_act + big_held
    assert any("transformer: activations not counted" in n for n in big.notes)
    with pytest.raises(UsageError, match="must be positive"):
        pipeline_memory(comps, height=0)


def test_pipeline_table_fits_80_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = run_cli(capsys, "estimate", str(_flux_with_config(tmp_path))).out
    table = out[out.index("Pipeline components"):]
    assert "…" not in table.split("All resident:")[0]
    assert all(len(line) <= 80 for line in out.splitlines())
    row = next(line for line in table.splitlines() if line.split()[:1] == ["bf16"])
    assert row.split()[1:] == ["0.25", "9.52", "23.80", "0.17", "37.55", "25.55"]  # GB, as the caption says


# The component configs of black-forest-labs/FLUX.1-dev (size fields): counted without any weights.
FLUX_CONFIGS = {
    "transformer": {"_class_name": "FluxTransformer2DModel", "attention_head_dim": 128, "guidance_embeds": True,
                    "in_channels": 64, "joint_attention_dim": 4096, "num_attention_heads": 24, "num_layers": 19,
                    "num_single_layers": 38, "patch_size": 1, "pooled_projection_dim": 768},
    "vae": {"_class_name": "AutoencoderKL", "block_out_channels": [128, 256, 512, 512], "in_channels": 3,
            "out_channels": 3, "latent_channels": 16, "layers_per_block": 2, "use_quant_conv": False,
            "use_post_quant_conv": False},
    "text_encoder": {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": 768,
                     "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                     "vocab_size": 49408, "max_position_embeddings": 77, "torch_dtype": "bfloat16"},
    "text_encoder_2": {"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": 4096, "d_kv": 64,
                       "num_heads": 64, "d_ff": 10240, "num_layers": 24, "vocab_size": 32128,
                       "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "torch_dtype": "bfloat16"},
}


def test_a_pipeline_from_its_configs_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline", "scheduler": ["d", "S"],
                                                           **{k: ["d", "X"] for k in FLUX_CONFIGS}}))
    for name, cfg in FLUX_CONFIGS.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "scheduler_config.json").write_text("{}")
    data = run_cli(capsys, "estimate", str(tmp_path), "-d", "bf16", "--json").json()
    # every component to the parameter: the counts the weights-based test above reads from the repo's headers
    assert data["rows"][0]["components"] == {name: 2 * n for name, n in
                                             zip(("text_encoder", "text_encoder_2", "transformer", "vae"),
                                                 (123_060_480, 4_762_310_656, 11_901_408_320, 83_819_683),
                                                 strict=True)}
    assert data["model"]["params"] == sum(COMPONENTS.values())
    assert any("counted from config.json" in n for n in data["notes"] + data["warnings"])
    assert not any("scheduler" in n for n in data["notes"] + data["warnings"])


def test_stable_diffusion_vae_from_its_config() -> None:
    from vramcalc.readers.diffusers_config import component_tensors

    # stabilityai/sd-vae-ft-mse (SD 1.x VAE): 4 latent channels, with the 1×1 quant convs
    sd = {**FLUX_CONFIGS["vae"], "latent_channels": 4, "use_quant_conv": True, "use_post_quant_conv": True}
    assert sum(t.numel for t in component_tensors(sd, "vae") or []) == 83_653_863
    assert component_tensors({"_class_name": "UNet2DConditionModel"}, "unet") is None
