"""llama.cpp op offload: the CUDA compute buffer with layers left in host memory (-ngl 0 … n).

With a ubatch of at least 32 tokens the CUDA backend takes the matmuls whose weights stay in host memory, and the
scheduler copies each such weight (and a host layer's K/V) into the CUDA compute buffer for its op. So -ngl 0 still
reserves a compute buffer: the logits plus the copied output weight.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.measurements import LLAMACPP
from tests.test_engines import _llamacpp_inputs
from vramcalc import heuristics as H
from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.activations import llamacpp_compute, llamacpp_largest_layer_tensor, llamacpp_largest_tensor
from vramcalc.calculator.engines import RuntimeEstimate, RuntimeRequest, runtime_memory
from vramcalc.calculator.quantize import plan_format
from vramcalc.readers.config_json import inventory_from_config
from vramcalc.registry import load_registry

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "configs"
MIB = 2**20
VOCAB, HIDDEN, FFN, UB = 128_256, 4096, 14_336, 512
# Llama-3.1-8B Q4_K_M: output.weight is Q6_K (210 bytes per 256 weights), 128256 × 4096
OUTPUT_Q6_K = VOCAB * HIDDEN // 256 * 210
LOGITS = UB * (VOCAB + HIDDEN) * 4  # the -ngl 99 compute buffer: 258.5 MiB


def _run(model: str, **kw: Any) -> RuntimeEstimate:
    arch, nbytes, emb, out = _llamacpp_inputs(model)
    largest = kw.pop("largest_tensor_bytes", 0)
    return runtime_memory(arch, nbytes, RuntimeRequest(engine="llama.cpp", **kw), embedding_bytes=emb,
                          output_bytes=out, largest_tensor_bytes=largest)


def test_ngl0_reserves_logits_plus_the_copied_output_weight() -> None:
    _, _, _, out = _llamacpp_inputs("Llama-3.1-8B")
    assert out == OUTPUT_Q6_K
    est = _run("Llama-3.1-8B", context=4096, gpu_layers=0, flash_attention=True)
    assert est.weights_on_gpu == 0 and est.kv_cache_bytes == 0
    assert est.parts["activations: output weight copy (op offload)"] == OUTPUT_Q6_K
    assert est.activation_bytes == LOGITS + OUTPUT_Q6_K  # 669.5 MiB
    assert 500 < est.activation_bytes / MIB < 800  # "several hundred MiB" (issue 9)
    # the process still initialises CUDA: the context/"unaccounted" figure stays on the GPU
    assert est.parts["cuda_context"] == H.LLAMACPP_UNACCOUNTED.as_int()
    assert est.total_bytes == est.activation_bytes + H.LLAMACPP_UNACCOUNTED.as_int()
    names = {h.name for h in est.heuristics}
    assert {"llamacpp_op_offload_min_batch", "llamacpp_offload_weight_copies"} <= names
    assert any("op offload" in line and "output layer" in line for line in est.explain)
    # the same without flash attention at 4 k: the logits phase still dominates KQ
    assert _run("Llama-3.1-8B", context=4096, gpu_layers=0, flash_attention=False).activation_bytes == \
        LOGITS + OUTPUT_Q6_K


def test_tied_embeddings_copy_the_embedding_table() -> None:
    # Llama-3.2-1B ties its output to token_embd: at -ngl 0 the output matmul reads the host table, copied whole
    arch, _, emb, out = _llamacpp_inputs("Llama-3.2-1B")
    assert out == 0 and emb > 0
    est = _run("Llama-3.2-1B", context=4096, gpu_layers=0)
    assert est.parts["activations: output weight copy (op offload)"] == emb
    assert est.activation_bytes == UB * (VOCAB + arch.hidden_size) * 4 + emb


@pytest.mark.parametrize("run", LLAMACPP["runs"], ids=lambda r: r["tag"])
def test_measured_runs_unchanged(run: dict[str, Any]) -> None:
    # -ngl 99 and -ngl 16: a host layer's copies (≤ 46 MiB each) never outgrow the logits phase
    args = run["args"]
    est = _run(run["model"], context=int(re.search(r"-c (\d+)", args).group(1)),  # type: ignore[union-attr]
               gpu_layers=int(re.search(r"-ngl (\d+)", args).group(1)),  # type: ignore[union-attr]
               flash_attention="-fa on" in args)
    assert est.activation_bytes / MIB == pytest.approx(run["cuda_compute_mib"], rel=0.02)
    assert not any("op offload" in k for k in est.parts)


@pytest.mark.parametrize("context", [512, 4096, 8192, 32768, 131072])
@pytest.mark.parametrize("fa", [True, False])
def test_full_offload_is_the_old_formula(context: int, fa: bool) -> None:
    est = _run("Llama-3.1-8B", context=context, flash_attention=fa)
    kq = context * UB * 32 * 4 + context * UB * 4 + 4 * UB * HIDDEN * 4
    assert est.activation_bytes == (LOGITS if fa else max(LOGITS, kq))
    assert not any(h.name.startswith("llamacpp_op") or "offload" in h.name for h in est.heuristics)


def test_partial_offload_host_layer_phase() -> None:
    arch, nbytes, emb, out = _llamacpp_inputs("Llama-3.1-8B")
    # the largest host weight (layer 0's ffn_down in Q6_K: 45.9 MiB) with two f32 intermediates and two hidden
    down_q6k = HIDDEN * FFN // 256 * 210
    peak = llamacpp_compute(arch, 8192, UB, True, host_tensor_bytes=down_q6k)
    assert peak.phase == "logits" and peak.nbytes == LOGITS  # below the logits at ngl 16 (measured 258.5 MiB)
    ffn = UB * (2 * HIDDEN + 2 * FFN) * 4 + down_q6k
    # a model whose copy outgrows the logits: the FFN phase sets the buffer
    big = llamacpp_compute(arch, 8192, UB, True, host_tensor_bytes=400 * MIB)
    assert big.phase == "host layer FFN" and big.nbytes == ffn - down_q6k + 400 * MIB
    est = _run("Llama-3.1-8B", context=8192, gpu_layers=16, largest_tensor_bytes=400 * MIB)
    assert est.activation_bytes == big.nbytes
    assert est.parts["activations: host weight copy (op offload)"] == 400 * MIB
    # -ngl 1: only the output layer on the GPU, no output copy
    one = _run("Llama-3.1-8B", context=4096, gpu_layers=1)
    assert one.activation_bytes == LOGITS


def test_host_kv_is_copied_for_attention_at_long_context() -> None:
    ctx = 131072
    kv_layer = ctx * 2 * 8 * 128 * 2  # K and V of one layer, f16: 512 MiB
    part = _run("Llama-3.1-8B", context=ctx, gpu_layers=16)
    assert part.parts["activations: host layer K and V copy (op offload)"] == kv_layer
    assert part.activation_bytes == kv_layer + ctx * UB * 2 + 3 * UB * HIDDEN * 4
    assert _run("Llama-3.1-8B", context=ctx, gpu_layers=99).activation_bytes == LOGITS  # KV on the GPU: no copy
    nofa = _run("Llama-3.1-8B", context=ctx, gpu_layers=16, flash_attention=False)
    assert nofa.activation_bytes == ctx * UB * 32 * 4 + ctx * UB * 4 + 4 * UB * HIDDEN * 4 + kv_layer


def test_small_ubatch_keeps_host_ops_on_the_cpu() -> None:
    assert H.LLAMACPP_OP_OFFLOAD_MIN_BATCH.as_int() == 32
    none = _run("Llama-3.1-8B", context=4096, gpu_layers=0, n_ubatch=16)
    assert none.activation_bytes == 0
    assert any("run on the CPU" in line for line in none.explain)
    edge = _run("Llama-3.1-8B", context=4096, gpu_layers=0, n_ubatch=32)
    assert edge.activation_bytes == 32 * (VOCAB + HIDDEN) * 4 + OUTPUT_Q6_K
    partial = _run("Llama-3.1-8B", context=4096, gpu_layers=16, n_ubatch=16, largest_tensor_bytes=10**9)
    assert partial.activation_bytes == 16 * (VOCAB + HIDDEN) * 4  # no copies below the offload batch


def _q4km(model: str) -> tuple[Any, Any]:
    cfg = json.loads((EXAMPLES / model / "config.json").read_text())
    reg = load_registry()
    return architecture_from_config(cfg), plan_format(inventory_from_config(cfg, model), reg.get("Q4_K_M"), reg)


def test_largest_tensor_in_gguf_layout() -> None:
    _, plan = _q4km("llama-3.1-8b")
    assert llamacpp_largest_tensor((p.tensor.name, p.nbytes) for p in plan.tensors) == HIDDEN * FFN // 256 * 210
    # Mixtral: GGUF fuses a layer's 8 experts into one ffn_down_exps tensor, copied whole at reserve time
    arch, plan = _q4km("mixtral-8x7b")
    per_expert = max(p.nbytes for p in plan.tensors if ".experts.0.w2." in p.tensor.name)
    fused = llamacpp_largest_tensor((p.tensor.name, p.nbytes) for p in plan.tensors)
    assert fused == 8 * per_expert
    assert llamacpp_largest_tensor([("model.embed_tokens.weight", 10**9), ("lm_head.weight", 10**9),
                                    ("model.layers.0.mlp.experts.gate_up_proj", 600)]) == 300
    emb = sum(p.nbytes for p in plan.tensors if p.cls == "embeddings")
    out = sum(p.nbytes for p in plan.tensors if p.cls == "lm_head")
    est = runtime_memory(arch, plan.nbytes, RuntimeRequest(engine="llama.cpp", context=4096, gpu_layers=0),
                         embedding_bytes=emb, output_bytes=out, largest_tensor_bytes=fused)
    assert est.parts["activations: host weight copy (op offload)"] == fused
    assert est.activation_bytes == UB * (2 * 4096 + 2 * 2 * 14336) * 4 + fused  # 2 experts per token
    # without the inventory's figure: the shapes and the layers' average bits per weight
    guess = runtime_memory(arch, plan.nbytes, RuntimeRequest(engine="llama.cpp", context=4096, gpu_layers=0),
                           embedding_bytes=emb, output_bytes=out)
    fallback = llamacpp_largest_layer_tensor(arch, plan.nbytes - emb - out)
    assert guess.parts["activations: host weight copy (op offload)"] == fallback
    assert 0.6 * fused < fallback < fused  # Q4_K_M's Q6_K ffn_down is above the average bits


def test_offload_heuristics_cite_llamacpp() -> None:
    for h in (H.LLAMACPP_OP_OFFLOAD_MIN_BATCH, H.LLAMACPP_OFFLOAD_WEIGHT_COPIES, H.LLAMACPP_OFFLOAD_FFN_LIVE,
              H.LLAMACPP_OFFLOAD_ATTN_HIDDEN):
        assert h.name.startswith("llamacpp_") and h.unit and re.search(r"\.(cpp|cu)\b", h.source)


def test_no_op_offload_keeps_the_host_layers_work_on_the_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    # llama.cpp's --no-op-offload: with -ngl 0 nothing runs on the GPU, so no CUDA compute buffer (only the context)
    from tests.cli_helpers import run_cli

    config = str(Path(__file__).resolve().parents[1] / "examples" / "configs" / "llama-3.1-8b")
    on = run_cli(capsys, "estimate", config, "-d", "Q4_K_M", "-ngl", "0", "--json").json()["rows"][0]
    off = run_cli(capsys, "estimate", config, "-d", "Q4_K_M", "-ngl", "0", "--no-op-offload", "--json")
    row = off.json()["rows"][0]
    assert on["activation_bytes"] > 0 and row["activation_bytes"] == 0 and "Warning" not in off.err
    assert row["total_bytes"] == row["overhead_bytes"]
