"""Pricing a group of alike tensors at a time gives what walking the tensors one by one gives: the GGUF names,
llama.cpp's view of the tensors, and each group's split by GGUF tensor, for every family vramcalc builds (dense,
MoE and FP8 variants), a pipeline whose components share block names, and a GGUF-named inventory."""

from __future__ import annotations

import pytest

from vramcalc.calculator.gguf_names import gguf_name, map_gguf_names
from vramcalc.calculator.quantize import gguf_layout, gguf_view, names_by_group
from vramcalc.calculator.weights import source_groups
from vramcalc.inventory import Inventory, TensorInfo, group_tensors
from vramcalc.models import known_model_types
from vramcalc.readers.config_json import inventory_from_config

BASE = dict(hidden_size=256, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=512, vocab_size=1000, max_position_embeddings=512, d_model=256, num_layers=3,
            num_heads=4, d_kv=64, d_ff=512, kv_lora_rank=64)
VARIANTS = {
    "dense": {},
    "moe": dict(num_experts=4, num_local_experts=4, n_routed_experts=4, num_experts_per_tok=2,
                moe_intermediate_size=128, n_shared_experts=1, first_k_dense_replace=1, q_lora_rank=96,
                shared_expert_intermediate_size=256),
    "fp8": dict(quantization_config={"quant_method": "fp8", "weight_block_size": [64, 64]}),
}


def _inventories() -> list[tuple[str, Inventory]]:
    out = []
    for model_type in sorted(known_model_types()):
        for name, extra in VARIANTS.items():
            try:
                out.append((f"{model_type}/{name}", inventory_from_config({**BASE, **extra, "model_type": model_type},
                                                                          "x")))
            except Exception:  # noqa: BLE001 - a family that needs fields this sketch lacks
                continue
    return out


INVENTORIES = _inventories()


def _view(tensors: list) -> dict:  # order-free: llama.cpp's rules sort by (layer, name)
    return {t.name: (t.ne0, t.n_dims, t.ne2) for t in tensors}


def test_enough_families_are_built() -> None:
    assert len(INVENTORIES) >= 90


@pytest.mark.parametrize(("label", "inv"), INVENTORIES, ids=[label for label, _ in INVENTORIES])
def test_grouped_gguf_names_match_name_by_name(label: str, inv: Inventory) -> None:
    model_type = str((inv.config or {}).get("model_type") or "")
    grouped = map_gguf_names(names_by_group(inv), model_type)
    assert grouped == {n: gguf_name(n, model_type) for group in names_by_group(inv) for n in group}


@pytest.mark.parametrize(("label", "inv"), INVENTORIES, ids=[label for label, _ in INVENTORIES])
def test_layout_by_groups_matches_the_tensor_walk(label: str, inv: Inventory) -> None:
    groups = source_groups(inv)
    layout = gguf_layout(inv, groups)
    assert layout is not None
    tensors, parts = layout
    walked, names = gguf_view(inv)
    assert _view(tensors) == _view(walked)
    for members in groups.values():
        assert parts[id(members)] == _split(members, names)


def _split(members: list, names: dict[str, str]) -> list:
    out: dict = {}
    for t in members:
        out.setdefault(names.get(t.name), []).append(t)
    return list(out.items())


def test_two_groups_meeting_in_one_gguf_tensor_walk_the_tensors() -> None:
    """A pipeline's components with the same block names: the merged tensor's shape follows the tensor order."""
    a = TensorInfo.trusted("model.layers.0.mlp.up_proj.weight", "BF16", (64, 32), 4096, component="a")
    b = TensorInfo.trusted("model.layers.0.mlp.up_proj.weight", "BF16", (128, 16), 4096, component="b")
    inv = Inventory(source="x", kind="folder", tensors=[a, b])
    assert gguf_layout(inv, group_tensors(inv.tensors)) is None


def test_gguf_named_tensors_keep_their_names() -> None:
    tensors = [TensorInfo.trusted(f"blk.{i}.ffn_down_exps.weight", "Q4_K", (8, 64, 256), 8 * 64 * 144)
               for i in range(3)] + [TensorInfo.trusted("output.weight", "Q6_K", (100, 256), 100 * 210)]
    inv = Inventory(source="x", kind="gguf", tensors=tensors)
    grouped = map_gguf_names(names_by_group(inv), "")
    assert {n: g.name if g else None for n, g in grouped.items()} == {t.name: t.name for t in tensors}
    layout = gguf_layout(inv, source_groups(inv))
    assert layout is not None
    assert _view(layout[0]) == _view(gguf_view(inv)[0])


@pytest.mark.parametrize(("label", "inv"), INVENTORIES[::7], ids=[label for label, _ in INVENTORIES[::7]])
def test_layers_counted_from_the_groups_match_name_by_name(label: str, inv: Inventory) -> None:
    from vramcalc.calculator.gguf_names import layer_of
    from vramcalc.calculator.quantize import _count_layers

    by_name = {layer_of(n.name) for t in inv.tensors if (n := gguf_name(t.name)) is not None}
    assert _count_layers(inv) == max(by_name, default=-1) + 1


def test_a_trusted_tensor_is_the_validated_one() -> None:
    """What readers build without validation equals, hashes and dumps as the model pydantic validates."""
    fast = TensorInfo.trusted("model.layers.0.mlp.up_proj.weight", "BF16", (64, 32), 4096, component="t", file="a")
    slow = TensorInfo(name="model.layers.0.mlp.up_proj.weight", dtype="BF16", shape=(64, 32), nbytes=4096,
                      component="t", file="a")
    assert fast == slow and hash(fast) == hash(slow) and fast.numel == slow.numel == 2048
    assert fast.model_dump() == slow.model_dump() and fast.model_dump_json() == slow.model_dump_json()
    with pytest.raises(ValueError, match="frozen"):
        fast.name = "other"  # type: ignore[misc]
