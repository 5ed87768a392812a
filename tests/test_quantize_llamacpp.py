"""llama.cpp mixes: the per-tensor rules of llama_tensor_get_type, and real published GGUF file sizes."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.quant_helpers import hf_inventory, published
from vramcalc.calculator.gguf_file import predict_gguf_file_size
from vramcalc.calculator.gguf_names import gguf_name
from vramcalc.calculator.quantize import _use_more_bits, plan_format
from vramcalc.calculator.weights import WeightPlan
from vramcalc.inventory import Inventory, TensorInfo
from vramcalc.registry import Registry, load_registry

LLAMA3_8B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def types_of(plan: WeightPlan, part: str) -> Counter[str]:
    return Counter(p.spec.name if p.spec else p.kept_dtype for p in plan.tensors if part in p.tensor.name)


def test_use_more_bits_picks_half_of_32_layers() -> None:
    chosen = [i for i in range(32) if _use_more_bits(i, 32)]
    assert len(chosen) == 16
    assert chosen[:4] == [0, 1, 2, 3] and chosen[-4:] == [28, 29, 30, 31]
    assert 6 in chosen and 5 not in chosen  # (i - 4) % 3 == 2


def test_llama3_8b_q4_k_m_tensor_types(registry: Registry) -> None:
    # llama-quant.cpp worked check: 193 × Q4_K + 33 × Q6_K + 65 × F32.
    plan = plan_format(hf_inventory(LLAMA3_8B), registry.get("Q4_K_M"), registry)
    total = Counter(p.spec.name if p.spec else "kept" for p in plan.tensors)
    assert total == {"Q4_K": 193, "Q6_K": 33, "kept": 65}
    assert types_of(plan, "lm_head") == {"Q6_K": 1}
    assert types_of(plan, "embed_tokens") == {"Q4_K": 1}
    assert types_of(plan, "v_proj") == {"Q6_K": 16, "Q4_K": 16}
    assert all(p.kept_dtype.upper() in ("F32", "FP32") for p in plan.kept)
    assert 4.89 < float(plan.bits_per_weight) < 4.90


def test_q4_k_m_is_bigger_than_q4_0_for_the_mix_not_the_block(registry: Registry) -> None:
    inv = hf_inventory(LLAMA3_8B)
    q4km = plan_format(inv, registry.get("Q4_K_M"), registry)
    q40 = plan_format(inv, registry.get("Q4_0"), registry)
    # Same 4.5 bits per weight per block; the Q6_K tensors make the difference.
    assert registry.get("Q4_K").bits_per_weight == registry.get("Q4_0").bits_per_weight
    assert types_of(q40, "lm_head") == {"Q6_K": 1}  # output is Q6_K in every non-Q8_0 mix
    assert q4km.nbytes > q40.nbytes


def test_tied_embeddings_take_the_output_rule(registry: Registry) -> None:
    inv = hf_inventory({**LLAMA3_8B, "num_hidden_layers": 4, "tie_word_embeddings": True})
    plan = plan_format(inv, registry.get("Q4_K_M"), registry)
    assert types_of(plan, "embed_tokens") == {"Q6_K": 1}
    assert not types_of(plan, "lm_head")


def test_q2_k_and_q3_k_m_bumps(registry: Registry) -> None:
    inv = hf_inventory(LLAMA3_8B)
    q2 = plan_format(inv, registry.get("Q2_K"), registry)
    assert types_of(q2, "v_proj") == {"Q4_K": 32}  # GQA 4 → Q4_K
    assert types_of(q2, "down_proj") == {"Q3_K": 32}
    assert types_of(q2, "o_proj") == {"Q3_K": 32}
    q3 = plan_format(inv, registry.get("Q3_K_M"), registry)
    assert types_of(q3, "v_proj") == {"Q5_K": 2, "Q4_K": 30}
    assert types_of(q3, "down_proj") == {"Q5_K": 2, "Q4_K": 30}  # i < n/16 → Q5_K, else Q4_K (not Falcon)


def test_70b_rule(registry: Registry) -> None:
    cfg = {**LLAMA3_8B, "num_hidden_layers": 80, "hidden_size": 512, "intermediate_size": 1024, "vocab_size": 1024,
           "num_attention_heads": 8, "num_key_value_heads": 1}
    plan = plan_format(hf_inventory(cfg), registry.get("Q3_K_M"), registry)
    assert types_of(plan, "v_proj") == {"Q5_K": 80}


def test_rows_not_divisible_by_256_fall_back(registry: Registry) -> None:
    # Qwen2.5-0.5B: hidden 896 = 3.5 × 256.
    if registry.find("Q5_0") is None:
        pytest.skip("the registry has no Q5_0 entry yet")
    cfg = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
           "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True}
    plan = plan_format(hf_inventory(cfg), registry.get("Q4_K_M"), registry)
    assert types_of(plan, "q_proj.weight") == {"Q5_0": 24}  # Q4_K → Q5_0
    assert types_of(plan, "embed_tokens") == {"Q8_0": 1}  # output rule: ne0 % 256 → Q8_0
    assert types_of(plan, "down_proj") == {"Q6_K": 12, "Q4_K": 12}  # 4864 = 19 × 256
    assert types_of(plan, "q_proj.bias") == {"FP32": 24} or types_of(plan, "q_proj.bias") == {"F32": 24}


def test_moe_with_8_experts(registry: Registry) -> None:
    cfg = {"model_type": "mixtral", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 8,
           "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 512, "num_local_experts": 8}
    plan = plan_format(hf_inventory(cfg), registry.get("Q4_K_M"), registry)
    assert types_of(plan, "v_proj") == {"Q8_0": 8}
    assert types_of(plan, "k_proj") == {"Q8_0": 8}
    assert types_of(plan, "o_proj") == {"Q5_K": 8}
    # Experts merge into one ffn_down_exps per layer; the layer comes from the name: 4 of 8 layers bumped.
    downs = types_of(plan, "down_proj")
    assert downs == {"Q6_K": 4 * 8, "Q4_K": 4 * 8}
    assert types_of(plan, "mlp.gate.weight") in ({"FP32": 8}, {"F32": 8})  # router never quantized
    g = gguf_name("model.layers.3.mlp.experts.5.down_proj.weight")
    assert g is not None and g.name == "blk.3.ffn_down_exps.weight" and g.merged_experts


def test_gguf_named_inventory_gives_the_same_bytes(registry: Registry) -> None:
    hf = hf_inventory({**LLAMA3_8B, "num_hidden_layers": 8})
    tensors = []
    for t in hf.tensors:
        g = gguf_name(t.name, "llama")
        assert g is not None, t.name
        dtype = "F32" if len(t.shape) == 1 else "F16"
        nbytes = t.numel * (4 if dtype == "F32" else 2)
        tensors.append(TensorInfo(name=g.name, dtype=dtype, shape=t.shape, nbytes=nbytes))
    gg = Inventory(source="x.gguf", kind="gguf", tensors=tensors,
                   metadata={"general.architecture": "llama", "llama.block_count": 8, "llama.attention.head_count": 32,
                             "llama.attention.head_count_kv": 8})
    for fmt in ("Q4_K_M", "Q3_K_M", "Q8_0", "Q2_K"):
        a = plan_format(hf, registry.get(fmt), registry)
        b = plan_format(gg, registry.get(fmt), registry)
        assert a.nbytes == b.nbytes, fmt


PUBLISHED = published()


@pytest.mark.parametrize("case", PUBLISHED["gguf"], ids=lambda c: f"{c['model']}-{c['format']}")
def test_published_gguf_sizes(case: dict, registry: Registry) -> None:
    inv = hf_inventory(PUBLISHED["models"][case["model"]]["config"])
    spec = registry.get(case["format"])
    plan = plan_format(inv, spec, registry)
    predicted = predict_gguf_file_size(inv, spec, registry, plan).total
    real = case["size_bytes"]
    assert abs(predicted - real) / real < PUBLISHED["gguf_tolerance"], (predicted, real)


@pytest.mark.parametrize("case", PUBLISHED["gguf_excluded"], ids=lambda c: f"{c['model']}-{c['format']}")
def test_excluded_sizes_really_differ(case: dict, registry: Registry) -> None:
    # Files made under older llama.cpp rules: kept to show the rules changed, not to be matched.
    inv = hf_inventory(PUBLISHED["models"][case["model"]]["config"])
    spec = registry.get(case["format"])
    predicted = predict_gguf_file_size(inv, spec, registry, plan_format(inv, spec, registry)).total
    assert abs(predicted - case["size_bytes"]) / case["size_bytes"] > PUBLISHED["gguf_tolerance"]


def test_explain_says_why_q4_k_m_is_bigger_than_q4_0(registry: Registry) -> None:
    from vramcalc.calculator.explain import explain_plan

    inv = hf_inventory(LLAMA3_8B)
    km = explain_plan(plan_format(inv, registry.get("Q4_K_M"), registry), "gb")
    q0 = explain_plan(plan_format(inv, registry.get("Q4_0"), registry), "gb")
    assert km[0].startswith("Q4_K_M: 8,030,261,248 parameters") and "4.8944 bits per weight" in km[0]
    down = next(line for line in km if line.strip().startswith("MLP down") and "×" in line)
    assert "Q6_K ×16" in down and "Q4_K ×16" in down and "5.531" in down
    extra = km[km.index(next(line for line in km if "Where the difference comes from" in line)) + 1:]
    assert extra[0].strip().startswith("MLP down") and "Q6_K" in extra[0]
    assert any(line.strip().startswith("lm_head") and "Q6_K" in line for line in q0)
    assert "+3.0%" in next(line for line in q0 if "if all" in line)


@pytest.fixture(scope="module")
def all_types() -> Registry:
    from tests.quant_helpers import gguf_test_registry

    return gguf_test_registry()


def test_shipped_gguf_types_agree_with_the_block_table(registry: Registry) -> None:
    from tests.quant_helpers import GGML_TYPES

    found = 0
    for name, block, nbytes in GGML_TYPES:
        shipped = registry.find(name)
        if shipped is not None:
            found += 1
            assert (shipped.block_size, shipped.block_bytes) == (block, nbytes), name
    assert found >= 6


def test_q4_k_s_and_q5_k_s(all_types: Registry) -> None:
    inv = hf_inventory(LLAMA3_8B)
    s4 = plan_format(inv, all_types.get("Q4_K_S"), all_types)
    assert types_of(s4, "v_proj") == {"Q5_K": 4, "Q4_K": 28}  # first 4 attn_v
    assert types_of(s4, "down_proj") == {"Q5_K": 4, "Q4_K": 28}  # i < n/8
    s5 = plan_format(inv, all_types.get("Q5_K_S"), all_types)
    assert types_of(s5, "proj") == {"Q5_K": 224} and types_of(s5, "lm_head") == {"Q6_K": 1}


def test_q3_k_l_and_q3_k_s(all_types: Registry) -> None:
    inv = hf_inventory(LLAMA3_8B)
    ql = plan_format(inv, all_types.get("Q3_K_L"), all_types)
    for part in ("v_proj", "o_proj", "down_proj"):
        assert types_of(ql, part) == {"Q5_K": 32}, part
    qs = plan_format(inv, all_types.get("Q3_K_S"), all_types)
    assert types_of(qs, "proj") == {"Q3_K": 224}


def test_low_bit_iq_mixes(all_types: Registry) -> None:
    inv = hf_inventory(LLAMA3_8B)
    p = plan_format(inv, all_types.get("IQ2_XXS"), all_types)
    assert types_of(p, "embed_tokens") == {"Q2_K": 1}
    assert types_of(p, "lm_head") == {"Q5_K": 1}
    assert types_of(p, "v_proj") == {"Q4_K": 32}  # GQA 4
    assert types_of(p, "down_proj") == {"Q2_K": 4, "IQ2_XXS": 28}  # first n/8
    assert types_of(p, "q_proj") == {"IQ2_XXS": 32}
    m = plan_format(inv, all_types.get("IQ2_M"), all_types)
    assert types_of(m, "embed_tokens") == {"IQ3_S": 1} and types_of(m, "o_proj") == {"IQ3_S": 32}
    assert types_of(m, "q_proj") == {"IQ2_S": 32}


def test_iq4_xs_without_imatrix_and_iq3_m(all_types: Registry) -> None:
    inv = hf_inventory(LLAMA3_8B)
    p = plan_format(inv, all_types.get("IQ4_XS"), all_types)
    assert types_of(p, "v_proj") == {"Q5_K": 32}  # GQA ≥ 4
    assert types_of(p, "down_proj") == {"Q5_K": 4, "IQ4_XS": 28}  # no imatrix: first n/8
    m = plan_format(inv, all_types.get("IQ3_M"), all_types)
    assert types_of(m, "v_proj") == {"Q4_K": 32} and types_of(m, "o_proj") == {"Q4_K": 32}
    assert types_of(m, "down_proj") == {"Q4_K": 4, "IQ3_S": 28}


def test_current_fallbacks(all_types: Registry) -> None:
    cfg = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 8,
           "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 4096, "tie_word_embeddings": True}
    inv = hf_inventory(cfg)
    assert types_of(plan_format(inv, all_types.get("Q2_K"), all_types), "q_proj.weight") == {"Q4_0": 8}
    assert types_of(plan_format(inv, all_types.get("IQ4_XS"), all_types), "q_proj.weight") == {"IQ4_NL": 8}
    assert types_of(plan_format(inv, all_types.get("Q5_K_M"), all_types), "q_proj.weight") == {"Q5_1": 8}
    assert types_of(plan_format(inv, all_types.get("Q6_K"), all_types), "q_proj.weight") == {"Q8_0": 8}
    odd = Inventory(source="x", kind="config", tensors=[
        TensorInfo(name="model.layers.0.mlp.up_proj.weight", dtype="F16", shape=(64, 80), nbytes=64 * 80 * 2)],
        config={"model_type": "llama", "num_hidden_layers": 1})
    assert types_of(plan_format(odd, all_types.get("Q4_K_M"), all_types), "up_proj") in ({"fp16": 1}, {"F16": 1})


def test_mxfp4_moe(all_types: Registry) -> None:
    cfg = {"model_type": "qwen3_moe", "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 256,
           "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
           "vocab_size": 512, "num_experts": 16}
    p = plan_format(hf_inventory(cfg), all_types.get("MXFP4_MOE"), all_types)
    assert types_of(p, "experts") == {"MXFP4": 4 * 16 * 3}
    assert types_of(p, "q_proj") == {"Q8_0": 4} and types_of(p, "lm_head") == {"Q8_0": 1}


def test_nvfp4_file_type_keeps_a_q8_0_output(registry: Registry) -> None:
    # llama-quant.cpp: `if (ftype == LLAMA_FTYPE_MOSTLY_NVFP4) new_type = GGML_TYPE_Q8_0;` for output.weight; every
    # other 2-D weight takes the file type's default, ggml's NVFP4 (here NVFP4_GGUF, 64-weight blocks).
    p = plan_format(hf_inventory(LLAMA3_8B), registry.get("NVFP4_GGUF"), registry)
    assert types_of(p, "lm_head") == {"Q8_0": 1}
    assert types_of(p, "v_proj") == {"NVFP4_GGUF": 32} and types_of(p, "down_proj") == {"NVFP4_GGUF": 32}


def test_vision_tower_names_do_not_collide_with_the_text_blocks() -> None:
    assert gguf_name("vision_tower.vision_model.encoder.layers.0.self_attn.v_proj.weight") is None
    assert gguf_name("model.language_model.layers.0.self_attn.v_proj.weight").name == "blk.0.attn_v.weight"  # type: ignore[union-attr]
    assert gguf_name("model.language_model.embed_tokens.weight").name == "token_embd.weight"  # type: ignore[union-attr]
    assert gguf_name("model.layers.2.post_attention_layernorm.weight", "gemma2").name == (  # type: ignore[union-attr]
        "blk.2.post_attention_norm.weight")
    assert gguf_name("model.layers.2.block_sparse_moe.experts.3.w2.weight").name == (  # type: ignore[union-attr]
        "blk.2.ffn_down_exps.weight")


def test_file_types_are_registry_data() -> None:
    # llama.cpp's file types, default types, fallbacks and imatrix needs come from formats.toml, once
    from vramcalc.calculator.quantize import llama_types
    from vramcalc.registry import load_registry

    t = llama_types(load_registry())
    assert t.defaults["Q4_K_M"] == "Q4_K" and t.defaults["IQ2_S"] == "IQ2_XS" and t.defaults["NVFP4"] == "NVFP4_GGUF"
    assert t.defaults["Q2_0"] == "Q2_0"  # LLAMA_FTYPE_MOSTLY_Q2_0 = 41, now in the TOML too
    assert t.fallback["Q4_K"] == "Q5_0" and t.fallback["IQ2_XS"] == "IQ4_NL" and "Q8_0" not in t.fallback
    assert {"IQ1_S", "IQ2_M", "Q2_K_S"} <= t.imatrix and "Q4_K_M" not in t.imatrix


def test_a_user_type_brings_its_own_fallback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from vramcalc.calculator.quantize import GGUFTensor, LlamaHParams, LlamaQuantRules, llama_types
    from vramcalc.registry import load_registry

    mine = tmp_path / "mine.toml"
    mine.write_text('[[format]]\nname = "MY_K"\nfamily = "gguf_type"\npayload_bits = 4\nblock_size = 256\n'
                    'llama_ftype = 90\nfallback = "Q8_0"\n')
    rules = LlamaQuantRules("MY_K", LlamaHParams("llama", 1), llama_types(load_registry([mine])))
    types = rules.types([GGUFTensor("blk.0.attn_q.weight", 4096, 2), GGUFTensor("blk.0.ffn_up.weight", 96, 2)])
    assert types == {"blk.0.attn_q.weight": "MY_K", "blk.0.ffn_up.weight": "Q8_0"}
