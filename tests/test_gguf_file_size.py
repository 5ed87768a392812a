"""GGUF file size to the byte: real files written with the gguf package, read back, predicted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vramcalc.calculator.gguf_file import pad, predict_gguf_file_size, tensor_info_bytes
from vramcalc.calculator.quantize import plan_format
from vramcalc.calculator.weights import plan_weights, tensor_bytes
from vramcalc.inventory import FileInfo, Inventory, TensorInfo
from vramcalc.registry import Registry, load_registry

gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")

H, FF, VOCAB, LAYERS = 256, 512, 320, 2


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def model_tensors(rng: Any) -> dict[str, Any]:
    """A tiny Llama in GGUF naming, numpy (row-major) shapes: [out, in]."""
    t = {"token_embd.weight": (VOCAB, H), "output_norm.weight": (H,), "output.weight": (VOCAB, H)}
    for i in range(LAYERS):
        t |= {f"blk.{i}.attn_norm.weight": (H,), f"blk.{i}.attn_q.weight": (H, H), f"blk.{i}.attn_k.weight": (64, H),
              f"blk.{i}.attn_v.weight": (64, H), f"blk.{i}.attn_output.weight": (H, H),
              f"blk.{i}.ffn_norm.weight": (H,), f"blk.{i}.ffn_gate.weight": (FF, H),
              f"blk.{i}.ffn_up.weight": (FF, H), f"blk.{i}.ffn_down.weight": (H, FF)}
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in t.items()}


def write_gguf(path: Path, arrays: dict[str, Any], types: dict[str, str]) -> None:
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_block_count(LAYERS)
    w.add_head_count(4)
    w.add_head_count_kv(1)
    w.add_context_length(2048)
    w.add_token_list([f"tok{i}" for i in range(VOCAB)])
    w.add_file_type(7)
    for name, arr in arrays.items():
        qtype = gguf.GGMLQuantizationType[types.get(name, "F32")]
        if qtype == gguf.GGMLQuantizationType.F32:
            w.add_tensor(name, arr)
        elif qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(name, arr.astype(np.float16))
        else:
            try:
                data = gguf.quants.quantize(arr, qtype)
            except NotImplementedError:  # gguf-py cannot quantize every type: declare its bytes
                data = np.zeros(gguf.quants.quant_shape_to_byte_shape(arr.shape, qtype), dtype=np.uint8)
            w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def read_inventory(path: Path) -> Inventory:
    r = gguf.GGUFReader(str(path))
    tensors = [TensorInfo(name=t.name, dtype=t.tensor_type.name, shape=tuple(int(x) for x in reversed(t.shape)),
                          nbytes=int(t.n_bytes)) for t in r.tensors]
    return Inventory(
        source=str(path), kind="gguf", tensors=tensors,
        files=[FileInfo(path=str(path), size=path.stat().st_size, header_bytes=int(r.data_offset),
                        tensors=len(tensors))],
        metadata={"general.architecture": "llama", "llama.block_count": LAYERS, "llama.attention.head_count": 4,
                  "llama.attention.head_count_kv": 1},
    )


def test_tensor_bytes_and_file_size_as_stored(tmp_path: Path, registry: Registry) -> None:
    rng = np.random.default_rng(0)
    arrays = model_tensors(rng)
    kinds = ["Q8_0", "Q4_0", "F16"] + [n for n in ("Q4_K", "Q6_K") if registry.find(n)]
    types = {n: kinds[i % len(kinds)] for i, n in enumerate(arrays) if arrays[n].ndim == 2}
    path = tmp_path / "m.gguf"
    write_gguf(path, arrays, types)
    inv = read_inventory(path)
    for t in inv.tensors:
        assert tensor_bytes(registry.get(t.dtype), t.shape) == t.nbytes, t
    stored = {t.name: t.dtype for t in inv.tensors}  # plan_weights sees the GGUF dequantized: type it as stored
    plan = plan_weights(inv, registry.get("Q8_0"), registry, lambda spec, t, cls: registry.get(stored[t.name]))
    got = predict_gguf_file_size(inv, registry.get("Q8_0"), registry, plan)
    assert got.total == path.stat().st_size
    assert got.metadata_exact


@pytest.mark.parametrize("ftype", ["Q8_0", "Q4_0"])
def test_requantized_file_size_to_the_byte(tmp_path: Path, registry: Registry, ftype: str) -> None:
    rng = np.random.default_rng(1)
    arrays = model_tensors(rng)
    src = tmp_path / "f32.gguf"
    write_gguf(src, arrays, {})
    inv = read_inventory(src)
    spec = registry.get(ftype)
    plan = plan_format(inv, spec, registry)
    # What llama-quantize writes: every ≥2-D weight in the file type's type, output.weight in Q6_K unless Q8_0,
    # norms as they are (F32). Written here independently of the predictor, then measured.
    expected_types = {n: (("Q6_K" if ftype != "Q8_0" else "Q8_0") if n == "output.weight" else ftype)
                      for n, a in arrays.items() if a.ndim == 2}
    out = tmp_path / f"{ftype}.gguf"
    write_gguf(out, arrays, expected_types)
    for p in plan.tensors:
        assert (p.spec.name if p.spec else "F32") == expected_types.get(p.tensor.name, "F32"), p.tensor.name
    assert predict_gguf_file_size(inv, spec, registry, plan).total == out.stat().st_size


def test_layout_arithmetic() -> None:
    assert pad(0, 32) == 0 and pad(1, 32) == 32 and pad(64, 32) == 64
    # name length + 8, n_dims u32, ne i64 × n_dims, type i32, offset u64
    assert tensor_info_bytes("blk.0.attn_q.weight", 2) == 8 + 19 + 4 + 16 + 4 + 8


def test_config_source_estimates_metadata(registry: Registry) -> None:
    from tests.quant_helpers import hf_inventory

    inv = hf_inventory({"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 1000,
                        "rope_scaling": {"rope_type": "llama3"}})
    spec = registry.get("Q8_0")
    got = predict_gguf_file_size(inv, spec, registry, plan_format(inv, spec, registry))
    assert not got.metadata_exact
    assert got.n_tensors == 2 * 9 + 3 + 1  # + rope_freqs written by the converter
    assert got.prefix % 32 == 0 and got.total == got.prefix + got.tensor_data + got.tensor_padding
