"""How many GPUs: an even split where the engine splits, the per-process overhead on every GPU, TP degrees that
divide the heads, KV heads replicated past their count."""

from __future__ import annotations

import pytest

from tests.cli_helpers import run_cli
from vramcalc.architecture import Architecture, Attention
from vramcalc.calculator.gpu_fit import MAX_GPUS, split_over_gpus

GB = 10**9


def _arch(heads: int, kv_heads: int, layers: int = 80, mla: bool = False) -> Architecture:
    att = Attention(num_heads=heads, num_kv_heads=kv_heads, head_dim=128, kv_lora_rank=512 if mla else None)
    return Architecture(model_type="t", hidden_size=heads * 128, num_layers=layers, vocab_size=32000,
                        layers=[att] * layers)


def test_70b_in_bf16_needs_two_80gb_gpus_with_the_overhead_on_each() -> None:
    # 70B × 2 bytes = 140 GB; each GPU also holds its own 1.25 GB of context: 70 + 1.25 = 71.25 GB per GPU
    split = split_over_gpus(weights_on_gpu=140 * GB, kv_bytes=0, activation_bytes=0, overhead_bytes=1_250_000_000,
                            gpu_memory=80 * GB, engine="transformers")
    assert split is not None and split.gpus == 2 and split.per_gpu_bytes == 71_250_000_000
    # on 40 GB cards: 140/4 + 1.25 = 36.25 GB fits, 140/3 + 1.25 = 47.9 GB does not
    split40 = split_over_gpus(weights_on_gpu=140 * GB, kv_bytes=0, activation_bytes=0,
                              overhead_bytes=1_250_000_000, gpu_memory=40 * GB, engine="transformers")
    assert split40 is not None and split40.gpus == 4


def test_layer_split_keeps_full_activations_on_every_gpu() -> None:
    split = split_over_gpus(weights_on_gpu=100 * GB, kv_bytes=20 * GB, activation_bytes=10 * GB, overhead_bytes=GB,
                            gpu_memory=40 * GB, engine="llama.cpp", arch=_arch(64, 8))
    # n = 4: (100 + 20) / 4 + 10 + 1 = 41 > 40; n = 5: 24 + 11 = 35
    assert split is not None and split.gpus == 5 and split.per_gpu_bytes == 35 * GB


def test_tensor_parallel_degree_divides_the_heads() -> None:
    # 40 heads: 3 GPUs would do by memory, but vLLM needs heads % n == 0, so 4
    split = split_over_gpus(weights_on_gpu=150 * GB, kv_bytes=0, activation_bytes=0, overhead_bytes=GB,
                            gpu_memory=60 * GB, engine="vllm", arch=_arch(40, 8))
    assert split is not None and split.gpus == 4 and split.how == "tensor parallel"
    # vLLM may use gpu_memory_utilization of each GPU only: 0.9 × 80 = 72 GB ≥ 140/2 + 1 = 71 GB; at 0.85 it is 68
    assert split_over_gpus(weights_on_gpu=140 * GB, kv_bytes=0, activation_bytes=0, overhead_bytes=GB,
                           gpu_memory=80 * GB, engine="vllm", utilization=0.9).gpus == 2  # type: ignore[union-attr]
    assert split_over_gpus(weights_on_gpu=140 * GB, kv_bytes=0, activation_bytes=0, overhead_bytes=GB,
                           gpu_memory=80 * GB, engine="vllm", utilization=0.85).gpus == 4  # type: ignore[union-attr]


@pytest.mark.parametrize(("kv_heads", "mla", "gpus", "per_gpu"),
                         [(8, False, 8, 88), (2, False, 16, 72), (1, True, 32, 84)])
def test_kv_heads_are_replicated_past_their_count(kv_heads: int, mla: bool, gpus: int, per_gpu: int) -> None:
    # 640 GB of weights and 64 GB of KV on 100 GB GPUs, 64 heads. 8 KV heads: at n = 8 each GPU holds one KV head,
    # 80 + 8 = 88. 2 KV heads: n = 8 gives 80 + 32 = 112, n = 16 gives 40 + 32 = 72. An MLA latent sits whole on
    # every GPU: n = 16 gives 40 + 64 = 104, n = 32 gives 20 + 64 = 84.
    split = split_over_gpus(weights_on_gpu=640 * GB, kv_bytes=64 * GB, activation_bytes=0, overhead_bytes=0,
                            gpu_memory=100 * GB, engine="vllm", arch=_arch(64, kv_heads, mla=mla))
    assert split is not None and (split.gpus, split.per_gpu_bytes) == (gpus, per_gpu * GB)


def test_more_than_the_limit_is_none() -> None:
    assert split_over_gpus(weights_on_gpu=MAX_GPUS * 80 * GB, kv_bytes=0, activation_bytes=0, overhead_bytes=GB,
                           gpu_memory=80 * GB, engine="transformers") is None


def test_cli_gpu_column_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "70B", "-d", "bf16", "-d", "Q4_K_M", "--gpu-memory", "80GB", "--json")
    bf16, q4 = r.json()["rows"]
    assert (bf16["gpus"], q4["gpus"]) == (2, 1)
    assert bf16["per_gpu_bytes"] == 70 * GB + bf16["overhead_bytes"]
    table = run_cli(capsys, "estimate", "70B", "-d", "bf16", "--gpu-memory", "80GB").out
    assert "GPUs of 80.00 GB" in table and "2 × 71.2" in table


def test_largest_context_bisection() -> None:
    from vramcalc.calculator.gpu_fit import largest_context

    assert largest_context(lambda c: c <= 12_345, 1 << 20) == 12_345
    assert largest_context(lambda c: True, 131_072) == 131_072
    assert largest_context(lambda c: False, 131_072) == 0


@pytest.mark.parametrize("engine", ["transformers", "llama.cpp"])
def test_max_context_is_the_boundary_the_forward_model_draws(capsys: pytest.CaptureFixture[str], engine: str) -> None:
    from pathlib import Path

    llama = str(Path(__file__).resolve().parents[1] / "examples" / "configs" / "llama-3.1-8b")
    common = ("-d", "Q4_K_M", "--engine", engine, "--gpu-memory", "12GB", "--json")
    row = run_cli(capsys, "estimate", llama, *common).json()["rows"][0]
    n = row["max_context"]
    assert 0 < n < 131_072
    at = run_cli(capsys, "estimate", llama, *common, "--context", str(n)).json()["rows"][0]
    past = run_cli(capsys, "estimate", llama, *common, "--context", str(n + 1)).json()["rows"][0]
    assert at["total_bytes"] <= 12 * GB < past["total_bytes"]


def test_best_fit_note_and_the_model_maximum(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    llama = str(Path(__file__).resolve().parents[1] / "examples" / "configs" / "llama-3.1-8b")
    data = run_cli(capsys, "estimate", llama, "-d", "bf16", "-d", "Q8_0", "-d", "Q4_K_M", "--gpu-memory", "16GB",
                   "--json").json()
    rows = {r["format"]: r for r in data["rows"]}
    assert rows["bf16"]["gpus"] == 2 and rows["bf16"]["max_context"] == 0  # 16.06 GB of weights alone
    assert rows["Q8_0"]["gpus"] == 1
    assert any("the most precise format that fits one 16.00 GB GPU at 4,096 tokens × 1: Q8_0" in n
               for n in data["notes"])
    big = run_cli(capsys, "estimate", llama, "-d", "Q4_K_M", "--gpu-memory", "80GB", "--json").json()["rows"][0]
    assert big["max_context"] == 131_072  # the model's maximum (max_position_embeddings), not beyond
