"""Quantization methods priced tensor by tensor: packed layouts against their tensors' real shapes, and which
tensors each method leaves alone. Format entries are written here from the reference implementations' layouts so
the test checks the mechanism, whatever the shipped registry holds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.quant_helpers import hf_inventory, published
from vramcalc.calculator.explain import explain_plan
from vramcalc.calculator.quantize import plan_format, tensor_chooser
from vramcalc.calculator.weights import tensor_bytes
from vramcalc.inventory import Inventory, TensorInfo
from vramcalc.registry import FormatSpec, Registry, load_registry

TINY = {"model_type": "llama", "hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2,
        "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000, "tie_word_embeddings": True}


def spec(**kw: Any) -> FormatSpec:
    return FormatSpec.model_validate(kw)


GPTQ_G128 = spec(name="gptq-int4", family="gptq", payload_bits=4, block_size=128, quantizes="linear",
                 keep_dtype="fp16", decoder_only=True, overhead=[{"name": "fp16 scale", "bits": 16, "per": "block"},
                                             {"name": "4-bit zero (qzeros)", "bits": 4, "per": "block"},
                                             {"name": "int32 g_idx", "bits": 32, "per": "column"}])
AWQ_G128 = spec(name="awq-int4", family="awq", payload_bits=4, block_size=128, quantizes="linear", keep_dtype="fp16",
                decoder_only=True, overhead=[{"name": "fp16 scale", "bits": 16, "per": "block"},
                          {"name": "4-bit zero (qzeros)", "bits": 4, "per": "block"}])
NF4_DQ = spec(name="nf4-dq", family="bitsandbytes", payload_bits=4, block_size=64, quantizes="linear",
              overhead=[{"name": "8-bit absmax", "bits": 8, "per": "block"},
                        {"name": "fp32 second-level absmax", "bits": 32, "per": "blocks", "every": 256}])
ONNX_Q4 = spec(name="onnx-q4", family="onnx", payload_bits=4, block_size=32, quantizes="linear",
               quantize_lm_head=True, keep_dtype="fp32", overhead=[{"name": "fp32 scale", "bits": 32, "per": "block"}])
ONNX_Q4F16 = spec(name="onnx-q4f16", family="onnx", payload_bits=4, block_size=32, quantizes="linear",
                  quantize_lm_head=True, keep_dtype="fp16",
                  overhead=[{"name": "fp16 scale", "bits": 16, "per": "block"}])
EXL2_4 = spec(name="exl2-4.0", family="exl2", payload_bits=4, quantizes="linear", keep_dtype="fp16")
FP8_BLOCK = spec(name="fp8-block", family="fp8", payload_bits=8, quantizes="linear",
                 overhead=[{"name": "fp32 weight_scale_inv", "bits": 32, "per": "tile", "tile": [128, 128]}])


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.mark.parametrize(("out_f", "in_f"), [(4096, 4096), (14336, 4096), (4096, 14336), (1024, 4096)])
def test_gptq_awq_packed_layout(out_f: int, in_f: int) -> None:
    g, bits = 128, 4
    # AutoGPTQ/GPTQModel: qweight int32 [in·b/32, out], qzeros int32 [in/g, out·b/32], scales fp16 [in/g, out],
    # g_idx int32 [in].
    qweight = in_f * bits // 32 * out_f * 4
    qzeros = (in_f // g) * (out_f * bits // 32) * 4
    scales = (in_f // g) * out_f * 2
    g_idx = in_f * 4
    assert tensor_bytes(GPTQ_G128, (out_f, in_f)) == qweight + qzeros + scales + g_idx
    # AutoAWQ GEMM: qweight int32 [in, out/8], qzeros int32 [in/g, out/8], scales fp16 [in/g, out].
    assert tensor_bytes(AWQ_G128, (out_f, in_f)) == in_f * out_f // 8 * 4 + (in_f // g) * out_f // 8 * 4 + scales


def test_nf4_double_quant_bits() -> None:
    assert float(NF4_DQ.bits_per_weight) == 4.126953125


def test_fp8_block_scales_per_tile() -> None:
    # DeepSeek-V3: weight_scale_inv fp32 [ceil(out/128), ceil(in/128)]
    assert tensor_bytes(FP8_BLOCK, (7168, 2112)) == 7168 * 2112 + 56 * 17 * 4


def test_gptq_keeps_embeddings_lm_head_norms_and_vision(registry: Registry) -> None:
    inv = hf_inventory({**TINY, "tie_word_embeddings": False})
    inv = inv.model_copy(update={"tensors": [*inv.tensors, TensorInfo(
        name="vision_tower.encoder.layers.0.mlp.fc1.weight", dtype="BF16", shape=(256, 128), nbytes=256 * 128 * 2)]})
    plan = plan_format(inv, GPTQ_G128, registry)
    kept = {p.tensor.name for p in plan.kept}
    assert {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"} <= kept
    assert "vision_tower.encoder.layers.0.mlp.fc1.weight" in kept
    quantized = [p for p in plan.tensors if p.spec is not None]
    assert len(quantized) == 7 * 2 and all(p.tensor.name.endswith("proj.weight") for p in quantized)
    emb = next(p for p in plan.tensors if p.tensor.name == "model.embed_tokens.weight")
    assert emb.nbytes == 1000 * 512 * 2  # kept in fp16


def test_onnx_export_unties_the_lm_head(registry: Registry) -> None:
    inv = hf_inventory(TINY)  # tied: no lm_head tensor in the checkpoint
    assert not any(t.name.startswith("lm_head") for t in inv.tensors)
    plan = plan_format(inv, ONNX_Q4, registry)
    head = next(p for p in plan.tensors if p.tensor.name == "lm_head.weight")
    emb = next(p for p in plan.tensors if p.tensor.name == "model.embed_tokens.weight")
    assert head.spec is ONNX_Q4 and head.nbytes == 1000 * 512 * 5 // 8  # MatMulNBits, 5 bits per weight
    assert emb.spec is None and emb.nbytes == 1000 * 512 * 4  # Gather table stays fp32
    f16 = plan_format(inv, ONNX_Q4F16, registry)
    emb16 = next(p for p in f16.tensors if p.tensor.name == "model.embed_tokens.weight")
    assert emb16.nbytes == 1000 * 512 * 2
    norms = [p for p in f16.tensors if p.cls == "norms"]
    assert norms and all(p.nbytes == p.tensor.numel * 2 for p in norms)  # the rest of the model in fp16
    lines = "\n".join(explain_plan(plan, "gb"))
    assert "embeddings" in lines and "lm_head" in lines and "fp32" in lines.lower()


def test_exl2_head_at_6_bits(registry: Registry) -> None:
    inv = hf_inventory({**TINY, "tie_word_embeddings": False})
    choose = tensor_chooser(inv, registry)
    head = next(t for t in inv.tensors if t.name == "lm_head.weight")
    got = choose(EXL2_4, head, "lm_head")
    assert got is not None and got.payload_bits == 6
    q = next(t for t in inv.tensors if t.name.endswith("q_proj.weight"))
    assert choose(EXL2_4, q, "attention") is EXL2_4


def test_nf4_prices_a_linear_by_its_layout(registry: Registry) -> None:
    inv = Inventory(source="x", kind="config", tensors=[
        TensorInfo(name="model.layers.0.mlp.down_proj.weight", dtype="BF16", shape=(512, 1024), nbytes=512 * 2048)])
    plan = plan_format(inv, NF4_DQ, registry)
    assert plan.tensors[0].nbytes == tensor_bytes(NF4_DQ, (512, 1024))


@pytest.mark.parametrize("case", published()["onnx"], ids=lambda c: c["file"])
def test_published_onnx_sizes(case: dict[str, Any], registry: Registry) -> None:
    # transformers.js scripts/quantize.py: MatMulNBits block 32, symmetric (no zero points); q4 keeps the rest
    # of the fp32 export, q4f16 converts the rest to fp16. The export stores an untied LM head.
    spec = {"q4": ONNX_Q4, "q4f16": ONNX_Q4F16}[case["format"]]
    inv = hf_inventory(published()["models"][case["model"]]["config"])
    plan = plan_format(inv, spec, registry)
    assert abs(plan.nbytes - case["size_bytes"]) / case["size_bytes"] < case["tolerance"], plan.nbytes


def gptq_spec(bits: int, group: int | None) -> FormatSpec:
    """AutoGPTQ layout (qlinear_cuda_old.py): qzeros are stored even for symmetric quantization; with no group
    (g = -1) one scale and zero cover a whole row."""
    per = "block" if group else "row"
    return spec(name=f"gptq-{bits}bit-g{group}", family="gptq", payload_bits=bits, block_size=group,
                quantizes="linear", keep_dtype="fp16",
                overhead=[{"name": "fp16 scale", "bits": 16, "per": per}, {"name": "zero", "bits": bits, "per": per},
                          {"name": "int32 g_idx", "bits": 32, "per": "column"}])


@pytest.mark.parametrize("case", published()["gptq"], ids=lambda c: f"{c['model'][:20]}-{c['bits']}-{c['group_size']}")
def test_published_gptq_sizes(case: dict[str, Any], registry: Registry) -> None:
    inv = hf_inventory(published()["models"][case["model"]]["config"], dtype="F16")
    plan = plan_format(inv, gptq_spec(case["bits"], case["group_size"]), registry)
    assert abs(plan.nbytes - case["size_bytes"]) / case["size_bytes"] < published()["packed_tolerance"], plan.nbytes


@pytest.mark.parametrize("case", published()["awq"], ids=lambda c: c["model"][:32])
def test_published_awq_sizes(case: dict[str, Any], registry: Registry) -> None:
    inv = hf_inventory(published()["models"][case["model"]]["config"], dtype="F16")
    plan = plan_format(inv, AWQ_G128, registry)
    assert abs(plan.nbytes - case["size_bytes"]) / case["size_bytes"] < published()["packed_tolerance"], plan.nbytes


def test_shipped_registry_entries_match_the_packed_layouts(registry: Registry) -> None:
    # Whatever GPTQ/AWQ/ONNX entries the shipped formats.toml holds must price like the layouts above.
    shape = (4096, 14336)
    for s in registry.formats:
        if s.family == "gptq" and s.payload_bits == 4 and s.block_size == 128:
            assert tensor_bytes(s, shape) == tensor_bytes(GPTQ_G128, shape), s.name
        if s.family == "awq" and s.payload_bits == 4 and s.block_size == 128:
            assert tensor_bytes(s, shape) == tensor_bytes(AWQ_G128, shape), s.name


def test_explain_onnx_q4_names_the_float_embedding_and_the_second_head(registry: Registry) -> None:
    inv = hf_inventory(published()["models"]["HuggingFaceTB/SmolLM2-135M-Instruct"]["config"])
    lines = explain_plan(plan_format(inv, ONNX_Q4, registry), "gb")
    emb = next(line for line in lines if line.strip().startswith("embeddings") and "×" in line)
    assert "FP32 ×1" in emb and "57.4%" in emb
    assert any("stores the LM head apart from the embedding table" in line for line in lines)


def test_microscaling_and_codebook_layouts() -> None:
    nvfp4 = spec(name="nvfp4-t", family="microscaling", payload_bits=4, block_size=16, quantizes="linear",
                 overhead=[{"name": "fp8 e4m3 block scale", "bits": 8, "per": "block"},
                           {"name": "fp32 global scale", "bits": 32, "per": "tensor"}])
    assert tensor_bytes(nvfp4, (4096, 4096)) == 4096 * 4096 // 2 + 4096 * 4096 // 16 + 4
    mxfp4 = spec(name="mxfp4-t", family="microscaling", payload_bits=4, block_size=32, quantizes="linear",
                 overhead=[{"name": "e8m0 scale", "bits": 8, "per": "block"}])
    assert float(mxfp4.bits_per_weight) == 4.25
    # AQLM 1x16: an int16 code per 8 weights, and one fp16 codebook of 2^16 × 8 per Linear (1 MiB).
    aqlm = spec(name="aqlm-t", family="aqlm", payload_bits=2, quantizes="linear",
                overhead=[{"name": "fp16 codebook 65536×8", "bits": 65536 * 8 * 16, "per": "tensor"},
                          {"name": "fp16 output scale", "bits": 16, "per": "row"}])
    assert tensor_bytes(aqlm, (4096, 4096)) == 4096 * 4096 // 4 + 2**20 + 4096 * 2
