"""`vramcalc train`: trainable counts, optimizer layouts, sharding, fit, the CLI's output and its errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import write_gguf
from tests.measurements import MODELS
from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.optimizers import OPTIMIZERS, state_bytes
from vramcalc.calculator.training import Param, TrainRequest, train_memory
from vramcalc.readers.config_json import inventory_from_config
from vramcalc.train_report import TrainReport

LLAMA_TARGETS = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"


@pytest.fixture
def llama_1b(tmp_path: Path) -> Path:
    folder = tmp_path / "llama-3.2-1b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(MODELS["Llama-3.2-1B"]))
    return folder


def _model(name: str) -> tuple[object, list[Param]]:
    cfg = dict(MODELS[name])
    inv = inventory_from_config(cfg, name)
    return architecture_from_config(cfg), [Param(t.name, t.shape) for t in inv.tensors]


def _train(name: str, **kw: object) -> object:
    arch, params = _model(name)
    return train_memory(arch, params, TrainRequest(**kw))  # type: ignore[arg-type]


def _report(out: str) -> TrainReport:
    return TrainReport.model_validate_json(out)


# --------------------------------------------------------------------------- trainable parameters


def test_lora_trainable_count_is_peft_s(capsys: pytest.CaptureFixture[str], llama_1b: Path) -> None:
    # peft's count for Llama-3.2-1B, r=16 on the seven projections (tests/data/measurements/h100-train.jsonl)
    r = run_cli(capsys, "train", str(llama_1b), "-m", "lora", "--lora-targets", LLAMA_TARGETS, "--json")
    assert r.code == 0, r.err
    row = _report(r.out).rows[0]
    assert row.trainable_params == 11_272_192 and row.lora_modules == 16 * 7
    # all-linear: every Linear but the LM head — the same seven per layer on Llama
    r = run_cli(capsys, "train", str(llama_1b), "-m", "lora", "--json")
    assert _report(r.out).rows[0].trainable_params == 11_272_192
    # rank scales it linearly; q_proj,v_proj alone: 16 × (2048 + 2048 + 2048 + 512) × 16 layers
    r = run_cli(capsys, "train", str(llama_1b), "-m", "lora", "-r", "8", "--lora-targets", "q_proj,v_proj", "--json")
    assert _report(r.out).rows[0].trainable_params == 8 * (4096 + 2560) * 16


def test_full_trains_every_parameter(capsys: pytest.CaptureFixture[str], llama_1b: Path) -> None:
    r = run_cli(capsys, "train", str(llama_1b), "-m", "full", "--json")
    report = _report(r.out)
    assert report.model.params == report.rows[0].trainable_params == 1_235_814_400


# --------------------------------------------------------------------------- optimizer layouts


def test_optimizer_state_layouts() -> None:
    matrix, vector = (4096, 1024), (4096,)
    n = 4096 * 1024
    assert state_bytes(OPTIMIZERS["adamw"], matrix, 2) == 2 * 2 * n  # exp_avg, exp_avg_sq in the param's dtype
    assert state_bytes(OPTIMIZERS["adamw"], matrix, 4) == 8 * n
    assert state_bytes(OPTIMIZERS["adamw-8bit"], matrix, 2) == 2 * (n + 4 * n // 256)  # uint8 + absmax per 256
    assert state_bytes(OPTIMIZERS["adamw-8bit"], (100,), 2) == 2 * 4 * 100  # under min_8bit_size: fp32 states
    assert state_bytes(OPTIMIZERS["adafactor"], matrix, 2) == 4 * (4096 + 1024)  # factored: rows + columns
    assert state_bytes(OPTIMIZERS["adafactor"], vector, 2) == 4 * 4096
    assert state_bytes(OPTIMIZERS["sgd"], matrix, 2) == 2 * n  # momentum buffer
    assert state_bytes(OPTIMIZERS["lion"], matrix, 2) == 4 * n  # bitsandbytes Lion: fp32 state1


def test_step_temporaries_follow_the_implementation() -> None:
    foreach = _train("Llama-3.2-1B", precision="bf16")
    fused = _train("Llama-3.2-1B", precision="bf16", optimizer="adamw-fused")
    eight = _train("Llama-3.2-1B", precision="bf16", optimizer="adamw-8bit")
    assert foreach.terms["optimizer step temporaries"].nbytes == 1_235_814_400 * 2  # one sqrt copy
    assert fused.terms["optimizer step temporaries"].nbytes == 0
    # bf16 AdamW states: 4 B per parameter; 8-bit: 2 B + an fp32 absmax per 256
    assert eight.terms["optimizer states"].nbytes < foreach.terms["optimizer states"].nbytes / 1.95
    assert "no GPU measurement" in " ".join(eight.notes) and not foreach.notes
    adafactor = _train("Llama-3.2-1B", precision="bf16", optimizer="adafactor")
    # per-parameter loop: fp32 temporaries of the largest tensor (the 128,256 × 2048 embedding)
    assert adafactor.terms["optimizer step temporaries"].nbytes == 128_256 * 2048 * 16


# --------------------------------------------------------------------------- the mechanism's consequences


def test_checkpointing_keeps_layer_inputs_only() -> None:
    plain = _train("Llama-3.2-1B", precision="bf16", batch=4)
    ckpt = _train("Llama-3.2-1B", precision="bf16", batch=4, checkpointing=True)
    assert ckpt.terms["activations"].nbytes < plain.terms["activations"].nbytes / 10
    assert ckpt.terms["activations"].nbytes >= 16 * 4 * 2048 * 2048 * 2  # 16 layer inputs in bf16


def test_grad_accumulation_keeps_gradients_through_forward() -> None:
    one = _train("Llama-3.2-1B", precision="bf16")
    four = _train("Llama-3.2-1B", precision="bf16", grad_accum=4)
    assert four.phases["backward"]["gradients"] == 1_235_814_400 * 2
    assert four.peak_allocated_bytes > one.peak_allocated_bytes


def test_fp32_with_grouped_heads_keeps_attention_probabilities() -> None:
    # sdpa's math path (fp32 + enable_gqa) saves batch × heads × seq² fp32 probabilities per layer
    a = _train("Llama-3.2-1B", precision="fp32", seq_len=1024)
    b = _train("Llama-3.2-1B", precision="fp32", seq_len=2048)
    assert b.terms["activations"].nbytes > 2.5 * a.terms["activations"].nbytes
    bf = _train("Llama-3.2-1B", precision="bf16", seq_len=2048)
    assert "train_sdpa_math_saved" in {h.name for h in b.heuristics}
    assert "train_sdpa_math_saved" not in {h.name for h in bf.heuristics}


def test_qlora_base_is_nf4_and_says_unmeasured() -> None:
    q = _train("Llama-3.2-1B", method="qlora", precision="bf16", optimizer="paged-adamw-8bit")
    lora = _train("Llama-3.2-1B", method="lora", precision="bf16")
    linear = 1_235_814_400 - 128_256 * 2048 - 33 * 2048  # all but the tied embedding and the norms
    assert q.terms["weights"].nbytes < lora.terms["weights"].nbytes * 0.45
    assert abs(q.terms["weights"].nbytes - (linear * 4.127 / 8 + (1_235_814_400 - linear) * 2
                                            + q.trainable * 4)) < 1e6
    assert any("QLoRA has no GPU measurement" in n for n in q.notes)
    assert q.paged_bytes > 0 and q.total_bytes > q.peak_reserved_bytes + q.cuda_context_bytes


def test_zero_stages_divide_model_states() -> None:
    p = 1_235_814_400
    z1 = _train("Llama-3.2-1B", precision="amp-bf16", gpus=8, zero=1)
    z2 = _train("Llama-3.2-1B", precision="amp-bf16", gpus=8, zero=2)
    z3 = _train("Llama-3.2-1B", precision="amp-bf16", gpus=8, zero=3)
    # DeepSpeed mixed precision: bf16 weights and grads, fp32 master + Adam states partitioned
    assert z1.terms["weights"].nbytes == 2 * p and z1.terms["gradients"].nbytes == 2 * p
    assert z1.terms["fp32 master weights"].nbytes == -(-4 * p // 8)
    assert z1.terms["optimizer states"].nbytes == -(-8 * p // 8)
    assert z2.terms["gradients"].nbytes == -(-2 * p // 8)
    assert z3.terms["weights"].nbytes == -(-2 * p // 8)
    assert z3.peak_allocated_bytes < z2.peak_allocated_bytes <= z1.peak_allocated_bytes
    assert sum(z2.phases["optimizer step"].values()) < sum(z1.phases["optimizer step"].values())
    ddp = _train("Llama-3.2-1B", precision="amp-bf16", gpus=8)
    assert ddp.terms["buffers"].nbytes > 4 * p  # DDP's gradient buckets: a second copy of the fp32 grads


def test_offload_moves_states_to_host() -> None:
    p = 1_235_814_400
    off = _train("Llama-3.2-1B", precision="amp-bf16", gpus=4, zero=2, offload_optimizer=True)
    assert off.terms["optimizer states"].nbytes == 0 and off.terms["fp32 master weights"].nbytes == 0
    assert off.host_bytes == -(-4 * p // 4) + -(-8 * p // 4) + -(-4 * p // 4)  # master, states, fp32 grads
    both = _train("Llama-3.2-1B", precision="amp-bf16", gpus=4, zero=3, offload_optimizer=True, offload_params=True)
    assert both.terms["weights"].nbytes == 0 and both.host_bytes > off.host_bytes


# --------------------------------------------------------------------------- the CLI


def test_default_rows_answer_full_lora_qlora(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "train", "examples/configs/llama-3.1-8b")
    assert r.code == 0, r.err
    for text in ("full amp-bf16", "full bf16", "lora bf16", "qlora bf16", "peak allocated", "peak set by",
                 "VRAM per GPU", "QLoRA has no GPU measurement", "paged-adamw-8bit"):
        assert text in r.out, text
    r = run_cli(capsys, "train", "examples/configs/llama-3.1-8b", "--json")
    report = _report(r.out)
    assert [(x.method, x.precision) for x in report.rows] == [("full", "amp-bf16"), ("full", "bf16"),
                                                               ("lora", "bf16"), ("qlora", "bf16")]
    for row in report.rows:
        assert sum(row.peak_parts.values()) == row.peak_allocated_bytes == row.phases[row.peak_phase]
        assert row.total_bytes == (row.peak_reserved_bytes + row.breakdown.paged_state_bytes
                                   + row.breakdown.cuda_context_bytes)
    assert report.rows[0].total_bytes > report.rows[2].total_bytes > report.rows[3].total_bytes


def test_explain_names_every_term_and_source(capsys: pytest.CaptureFixture[str], llama_1b: Path) -> None:
    r = run_cli(capsys, "train", str(llama_1b), "-m", "full", "-p", "amp-bf16", "--explain")
    assert r.code == 0, r.err
    for text in ("weights:", "gradients:", "optimizer states:", "activations:", "autocast weight copies:",
                 "logits and loss:", "optimizer step temporaries:", "buffers:", "← peak", "derivatives.yaml",
                 "torch/optim/adam.py", "loss_utils.py", "[train_cublas_workspaces]"):
        assert text in r.out, text


def test_fit_batch_and_seq_len(capsys: pytest.CaptureFixture[str], llama_1b: Path) -> None:
    r = run_cli(capsys, "train", str(llama_1b), "-m", "lora", "--gpu-memory", "24GiB", "--fit", "batch", "--json")
    assert r.code == 0, r.err
    report = _report(r.out)
    best = report.rows[0].max_batch
    assert best is not None and best >= 1
    arch, params = _model("Llama-3.2-1B")
    req = TrainRequest(method="lora", precision="bf16")
    assert train_memory(arch, params, replace(req, batch=best)).total_bytes <= 24 * 2**30
    assert train_memory(arch, params, replace(req, batch=best + 1)).total_bytes > 24 * 2**30
    r = run_cli(capsys, "train", str(llama_1b), "-m", "full", "-p", "bf16", "--gradient-checkpointing",
                "--gpu-memory", "24GiB", "--fit", "seq-len", "--json")
    seq = _report(r.out).rows[0].max_seq_len
    assert seq is not None and 2048 < seq < 131_072
    r = run_cli(capsys, "train", str(llama_1b), "-m", "lora", "--gpu-memory", "24GiB", "--fit", "batch")
    assert "largest micro-batch" in r.out and f"{best:,}" in r.out


def test_gpu_by_name_sets_the_count(capsys: pytest.CaptureFixture[str], llama_1b: Path) -> None:
    r = run_cli(capsys, "train", str(llama_1b), "-m", "full", "--gpu", "2xH100", "--zero", "2", "--json")
    assert r.code == 0, r.err
    report = _report(r.out)
    assert report.gpus == 2 and report.sharding == "ZeRO-2" and report.rows[0].fits is True


def test_bare_count_is_the_representative_decoder(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "train", "8B", "-m", "lora", "--json")
    assert r.code == 0, r.err
    report = _report(r.out)
    assert any("Llama-3-shaped decoder" in n for n in report.notes)
    assert report.rows[0].trainable_params > 0


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "schema", "train")
    assert r.code == 0 and "peak_allocated_bytes" in r.out and "total_bytes" in r.out


@pytest.mark.parametrize(("args", "message"), [
    (["-m", "lora", "--lora-targets", "c_attn"], "Error: LoRA targets c_attn match no module of this model — name "
                                                 "some of its Linear modules (q_proj, k_proj, v_proj, o_proj, "
                                                 "gate_proj, up_proj, down_proj) or give --lora-targets all-linear"),
    (["-m", "lora", "--lora-rank", "0"], "Error: --lora-rank 0 is not positive"),
    (["-m", "lora", "--lora-rank", "-4"], "Error: --lora-rank -4 is not positive"),
    (["--zero", "2"], "Error: --zero 2 shards over GPUs, but --gpus is 1 — give --gpus 2 or more"),
    (["--zero", "3", "--gpus", "1"], "Error: --zero 3 shards over GPUs, but --gpus is 1"),
    (["--fsdp", "full"], "Error: --fsdp full shards over GPUs"),
    (["--gpus", "2", "--zero", "5"], "Error: ZeRO stage 5 does not exist"),
    (["--gpus", "2", "--zero", "1", "--offload-params", "cpu"], "Error: --offload-params cpu needs sharded"),
    (["--offload-optimizer", "cpu"], "Error: --offload-optimizer cpu is a ZeRO feature"),
    (["-m", "dora"], "Error: unknown method 'dora'"),
    (["-p", "int8"], "Error: unknown precision 'int8'"),
    (["-o", "adamw9"], "Error: unknown optimizer 'adamw9'"),
    (["-m", "qlora", "-p", "amp-bf16"], "Error: QLoRA computes in bf16 or fp16, not amp-bf16"),
    (["--fit", "batch"], "Error: --fit needs the GPU's memory"),
])
def test_bad_input_is_one_error_line(capsys: pytest.CaptureFixture[str], llama_1b: Path, args: list[str],
                                     message: str) -> None:
    r = run_cli(capsys, "train", str(llama_1b), *args)
    assert r.code == 2, (r.out, r.err)
    assert r.err.startswith(message) and r.err.count("\n") == 1 and r.out == ""


def test_models_it_cannot_train(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    gguf = write_gguf(tmp_path / "model-Q4_K_M.gguf")
    r = run_cli(capsys, "train", str(gguf))
    assert r.code == 2 and r.err.startswith("Error: ") and "GGUF" in r.err and "config.json" in r.err
    r = run_cli(capsys, "train", "8B", "--lora-targets", "c_attn", "-m", "lora")
    assert r.code == 2 and "match no module" in r.err and "q_proj" in r.err
    r = run_cli(capsys, "train", "examples/configs/bge-m3")
    assert r.code == 2 and "not a causal language model" in r.err
