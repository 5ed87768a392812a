"""Each estimate row answers for its own format: a what-if row of a GGUF is the model in that format, the engine
is chosen per row, and a flag given at its default changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import write_gguf


def test_float_rows_of_a_gguf_are_the_model_dequantized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_gguf(tmp_path / "m.gguf")
    data = run_cli(capsys, "estimate", str(path), "-d", "as stored", "-d", "fp32", "-d", "bf16", "--json").json()
    stored, fp32, bf16 = data["rows"]
    params = data["model"]["params"]
    # used to keep the Q8_0 tensor as it is ("fp32 needs 6.05 GB" for an 8B Q4_K_M file)
    assert fp32["weight_bytes"] == 4 * params and bf16["weight_bytes"] == 2 * params
    assert stored["weight_bytes"] < fp32["weight_bytes"]
    assert any(k.startswith("priced dequantized: the GGUF's Q8_0 tensors") for k in bf16["kept"])
    assert not any("dequantized" in k for k in stored["kept"])


LLAMA_8B = str(Path(__file__).parent.parent / "examples" / "configs" / "llama-3.1-8b")


def test_a_rows_engine_does_not_depend_on_the_other_rows(capsys: pytest.CaptureFixture[str]) -> None:
    # Q4_K_M's max context on 24 GB was 131,072 with -d Q4_K_M alone and 59,346 once -d bf16 was added
    alone = run_cli(capsys, "estimate", LLAMA_8B, "-d", "Q4_K_M", "--gpu-memory", "24GB", "--json").json()
    both = run_cli(capsys, "estimate", LLAMA_8B, "-d", "Q4_K_M", "-d", "bf16", "--gpu-memory", "24GB",
                   "--json").json()
    q4 = both["rows"][0]
    assert q4 == alone["rows"][0] and q4["engine"] == "llama.cpp" and both["rows"][1]["engine"] == "transformers"
    assert q4["max_context"] == 131_072


@pytest.mark.parametrize(("args", "warned"), [
    (["-e", "transformers", "--gpu-layers", "3", "--ubatch-size", "7"], ["--gpu-layers", "--ubatch-size"]),
    (["-d", "bf16", "--max-num-seqs", "4", "--no-flash-attention"], ["--max-num-seqs", "--flash-attention"]),
    (["-d", "bf16", "--resolution", "512"], ["--resolution"]),
])
def test_options_no_row_reads_are_named(capsys: pytest.CaptureFixture[str], args: list[str],
                                        warned: list[str]) -> None:
    result = run_cli(capsys, "estimate", LLAMA_8B, *args, "--json")
    assert result.code == 0
    lines = [w for w in result.err.splitlines() if w.startswith("Warning: ")]
    assert sorted(next(o for o in warned if o in w) for w in lines) == sorted(warned)
    assert all("ignored" in w for w in lines)
    # the same options with their own engine: no warning
    assert "Warning" not in run_cli(capsys, "estimate", LLAMA_8B, "-d", "Q4_K_M", "-e", "llama.cpp",
                                    "--gpu-layers", "3", "--ubatch-size", "7").err


def test_gpu_layers_on_a_label_without_an_architecture(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "estimate", "8B-Q4_K_M", "--gpu-layers", "3")
    assert result.code == 0 and "--gpu-layers needs the architecture" in result.err


def test_what_applies_is_what_the_runtime_line_says(capsys: pytest.CaptureFixture[str]) -> None:
    # a bare count has no KV cache: no context to set
    count = run_cli(capsys, "estimate", "12B", "-d", "bf16").out
    line = next(ln for ln in count.splitlines() if ln.startswith("Engine"))
    assert "no KV cache" in line and "--context" not in line
    model = run_cli(capsys, "estimate", LLAMA_8B, "-d", "bf16").out
    assert "context 4,096 tokens × batch 1" in model and "set --context" in model


def test_a_table_of_files_shows_their_sizes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = run_cli(capsys, "estimate", LLAMA_8B, "-d", "Q4_K_M", "-d", "Q8_0").out
    header = next(ln for ln in out.splitlines() if "Format" in ln)
    assert header.split()[:4] == ["Format", "bpw", "File", "Weights"]
    q4 = next(ln for ln in out.splitlines() if ln.split()[:1] == ["Q4_K_M"])
    assert q4.split()[2] == "4.92"  # the predicted GGUF file (Llama-3.1-8B Q4_K_M: 4,920,733,568 bytes)
    mixed = run_cli(capsys, "estimate", LLAMA_8B, "-d", "Q4_K_M", "-d", "bf16").out
    assert "File" not in next(ln for ln in mixed.splitlines() if "Format" in ln)


def test_apple_silicon_rows_run_under_metal(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "estimate", LLAMA_8B, "-d", "Q4_K_M", "-d", "bf16", "--gpu", "M3 Max 36GB",
                   "--json").json()
    q4, bf16 = data["rows"]
    # unified memory: no CUDA context for llama.cpp's Metal build, and the GPU's share of RAM as its limit
    assert q4["engine"] == "llama.cpp-metal" and q4["overhead_bytes"] == 0 and q4["gpus"] == 1
    assert bf16["engine"] == "transformers"
    assert data["gpu_memory"] == 24 * 2**30
