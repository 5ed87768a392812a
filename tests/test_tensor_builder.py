"""TensorBuilder: experts built a part at a time store exactly what building them one by one stores."""

from __future__ import annotations

import pytest

from vramcalc.errors import SourceError
from vramcalc.models import tensors as builder_module
from vramcalc.models.tensors import TensorBuilder
from vramcalc.readers.config_json import inventory_from_config

PARTS = [("gate_proj.weight", (96, 64)), ("up_proj.weight", (96, 64)), ("down_proj.weight", (64, 96))]


def _one_by_one(b: TensorBuilder, prefix: str, n: int) -> None:
    for e in range(n):
        for part, shape in PARTS:
            b.add(f"{prefix}{e}.{part}", *shape)


@pytest.mark.parametrize("fp8", [None, (32, 32)])
def test_experts_at_once_equal_experts_one_by_one(fp8: tuple[int, int] | None) -> None:
    fast, slow = TensorBuilder("BF16", fp8_block=fp8), TensorBuilder("BF16", fp8_block=fp8)
    fast.add_experts("model.layers.1.mlp.experts.", 5, PARTS)
    _one_by_one(slow, "model.layers.1.mlp.experts.", 5)
    assert fast.tensors == slow.tensors
    assert [t.numel for t in fast.tensors] == [t.numel for t in slow.tensors]
    assert len(fast.tensors) == 5 * 3 * (2 if fp8 else 1)


def test_a_module_left_unconverted_stays_in_the_config_dtype() -> None:
    config = {"model_type": "deepseek_v3", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 4, "intermediate_size": 96, "moe_intermediate_size": 32, "vocab_size": 100,
              "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1, "first_k_dense_replace": 1,
              "kv_lora_rank": 16, "q_lora_rank": 24, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 8,
              "quantization_config": {"quant_method": "fp8", "weight_block_size": [16, 16],
                                      "modules_to_not_convert": ["mlp.experts.2."]}}
    dtypes = {t.name: t.dtype for t in inventory_from_config(config, "x").tensors}
    assert dtypes["model.layers.1.mlp.experts.2.up_proj.weight"] == "BF16"
    assert "model.layers.1.mlp.experts.2.up_proj.weight_scale_inv" not in dtypes
    assert dtypes["model.layers.1.mlp.experts.3.up_proj.weight"] == "F8_E4M3"
    assert dtypes["model.layers.1.mlp.experts.3.up_proj.weight_scale_inv"] == "F32"


def test_the_tensor_bound_names_where_it_is_crossed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder_module, "MAX_TENSORS", 7)
    b = TensorBuilder("BF16")
    with pytest.raises(SourceError, match=r"more than 7 tensors \(at model\.layers\.0\.mlp\.experts\.2\.up_proj"):
        b.add_experts("model.layers.0.mlp.experts.", 4, PARTS)
    assert len(b.tensors) == 7
