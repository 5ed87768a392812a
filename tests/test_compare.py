"""`vramcalc compare`: the report, the table, --json and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.quant_helpers import hf_inventory
from vramcalc.compare_report import CompareReport, build_compare
from vramcalc.registry import load_registry
from vramcalc.units import parse_label


def test_labels_side_by_side_json(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "compare", "13B-Q4_K_M", "7B-Q8_0", "--context", "8192", "--json")
    assert r.code == 0, r.err
    report = CompareReport.model_validate_json(r.out)
    assert report.context == 8192 and [e.format for e in report.entries] == ["Q4_K_M", "Q8_0"]
    a, b = report.entries
    # each label priced with llama-quantize's rules on the representative decoder for its count (the 13B's output
    # and half its attn_v/ffn_down in Q6_K): the 13B at Q4_K_M is the larger, as real files are (7.87 vs 7.16 GB)
    assert 7.8e9 < a.weight_bytes < 8.0e9 and 4.8 < a.bits_per_weight < 4.9
    assert 7_000_000_000 * 17 // 16 < b.weight_bytes < 7.44e9  # Q8_0: 8.5 bits and F32 norms
    assert a.weight_bytes > b.weight_bytes
    assert a.kv_cache_bytes is None and "architecture" in a.kv_note
    assert a.total_bytes == a.weight_bytes + a.overhead_bytes
    assert "13B-Q4_K_M" in report.verdict and "7B-Q8_0" in report.verdict


def test_table_and_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "compare", "13B-Q4_K_M", "7B-Q8_0")
    assert r.code == 0, r.err
    assert "Q4_K_M" in r.out and "needs" in r.out and " vs " in r.out


def test_needs_two_models(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "compare", "7B")
    assert r.code == 2
    assert r.err.startswith("Error: compare needs at least two models")


def test_unknown_format_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "compare", "7B", "13B", "--dtype", "Q4_K_Q")
    assert r.code != 0 and r.err.startswith("Error: unknown format 'Q4_K_Q'")


def test_inventory_entry_uses_the_per_tensor_plan_and_gguf_file() -> None:
    registry = load_registry()
    cfg = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False}
    report = build_compare([("llama-3-8b", hf_inventory(cfg), None), ("8B-Q4_K_M", parse_label("8B-Q4_K_M"), None)],
                           "Q4_K_M", 4096, "gb", registry)
    real, label = report.entries
    assert real.format == label.format == "Q4_K_M"
    assert 4.89 < real.bits_per_weight < 4.90  # the mix, tensor by tensor
    # a bare label: the same rules on the representative decoder, which at 8B is Llama-3.1-8B itself
    assert abs(label.bits_per_weight - real.bits_per_weight) < 0.002
    assert real.file_bytes is not None and real.file_bytes > real.weight_bytes
    assert any("representative Llama-3-shaped decoder" in n for n in label.notes)


def test_gguf_entry_as_stored_and_requantized(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    np = pytest.importorskip("numpy")
    from tests.test_gguf_file_size import model_tensors, read_inventory, write_gguf

    path = tmp_path / "m.gguf"
    arrays = model_tensors(np.random.default_rng(2))
    write_gguf(path, arrays, {n: "Q8_0" for n, a in arrays.items() if a.ndim == 2})
    inv = read_inventory(path)
    registry = load_registry()
    both = [("m.gguf", inv, None), ("7B", parse_label("7B"), None)]
    stored = build_compare(both, None, 4096, "gb", registry).entries[0]
    assert stored.format == "as stored" and stored.file_bytes == path.stat().st_size
    assert stored.weight_bytes == inv.total_bytes
    requant = build_compare(both, "Q4_0", 4096, "gb", registry).entries[0]
    assert requant.format == "Q4_0" and requant.weight_bytes < stored.weight_bytes
    assert requant.file_bytes is not None and requant.file_bytes % 32 == 0


def test_compare_and_estimate_agree(capsys: pytest.CaptureFixture[str]) -> None:
    llama = str(Path(__file__).resolve().parents[1] / "examples" / "configs" / "llama-3.1-8b")
    for engine in ("transformers", "llama.cpp", "vllm"):
        est = run_cli(capsys, "estimate", llama, "-d", "Q4_K_M", "-c", "8k", "-e", engine, "--json").json()["rows"][0]
        cmp = run_cli(capsys, "compare", llama, "8B-Q8_0", "-d", "Q4_K_M", "-c", "8k", "-e", engine,
                      "--json").json()["entries"][0]
        assert (cmp["engine"], cmp["total_bytes"], cmp["kv_cache_bytes"], cmp["activation_bytes"]) == (
            engine, est["total_bytes"], est["kv_cache_bytes"], est["activation_bytes"])


def test_engine_auto_entry_by_entry(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tests.fixtures_files import llama_tensors, write_safetensors

    folder = tmp_path / "st"
    write_safetensors(folder / "model.safetensors", llama_tensors())
    data = run_cli(capsys, "compare", "13B-Q4_K_M", str(folder), "--json").json()
    gguf, st = data["entries"]
    assert gguf["engine"] == "llama.cpp" and st["engine"] == "transformers" and st["format"] == "as stored"
    # the "as stored" row is also an estimate format: -d "as stored" shows only what the files hold
    rows = run_cli(capsys, "estimate", str(folder), "-d", "as stored", "--json").json()["rows"]
    assert [r["format"] for r in rows] == ["as stored"] and rows[0]["weight_bytes"] == st["weight_bytes"]
    bare = run_cli(capsys, "estimate", "7B", "-d", "stored")
    assert bare.code == 2 and bare.err.startswith("Error: 7B is a parameter count: it has no stored form")


LLAMA_8B = str(Path(__file__).parent.parent / "examples" / "configs" / "llama-3.1-8b")


@pytest.mark.parametrize("engine", ["auto", "transformers", "vllm", "llama.cpp"])
def test_the_parts_shown_add_up_to_vram(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                       engine: str) -> None:
    # activations used to be hidden whenever the KV cache was unknown (a label), while counted in VRAM
    data = run_cli(capsys, "compare", "13B-Q4_K_M", f"{LLAMA_8B}:Q4_K_M", "-e", engine, "--json").json()
    for e in data["entries"]:
        parts = e["weight_bytes"] - e["weights_in_host_bytes"] + (e["kv_cache_bytes"] or 0)
        assert parts + e["activation_bytes"] + e["overhead_bytes"] == e["total_bytes"], e
    monkeypatch.setenv("COLUMNS", "80")
    table = run_cli(capsys, "compare", "13B-Q4_K_M", "7B-Q8_0", "-e", engine).out
    assert "activations" in table and "—" not in table.split("activations")[1].splitlines()[0]


def test_a_format_per_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = run_cli(capsys, "compare", f"{LLAMA_8B}:Q4_K_M", f"{LLAMA_8B}:bf16", "7B:Q8_0", "13B-Q4_K_M", "-d", "nf4",
                   "--json").json()
    assert [e["format"] for e in data["entries"]] == ["Q4_K_M", "bf16", "Q8_0", "Q4_K_M"]
    q4, bf16 = data["entries"][:2]
    assert q4["params"] == bf16["params"] == 8_030_261_248 and bf16["weight_bytes"] == 2 * 8_030_261_248
    assert (q4["engine"], bf16["engine"]) == ("llama.cpp", "transformers")
    bad = run_cli(capsys, "compare", f"{LLAMA_8B}:Q4_K_X", "7B")
    assert bad.code == 2 and bad.err.startswith("Error: ")


def test_compare_answers_for_a_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "compare", f"{LLAMA_8B}:Q4_K_M", f"{LLAMA_8B}:bf16", "--gpu-memory", "16GiB",
                   "--json").json()
    q4, bf16 = data["entries"]
    assert data["gpu_memory"] == 16 * 2**30 and q4["gpus"] == 1 and bf16["gpus"] == 2
    assert q4["max_context"] > 0 and bf16["max_context"] == 0
    assert run_cli(capsys, "compare", "7B", "8B", "--gpu-memory", "16").code == 2
