"""Write tiny REAL model files for tests: safetensors (by hand, byte-exact) and GGUF (with gguf-py)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

_SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I64": 8}


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None = None,
                      data_len: int | None = None) -> tuple[bytes, int]:
    """Header bytes (length prefix included) and the data length for `tensors` laid out back to back."""
    header: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = 1
        for d in shape:
            n *= d
        size = n * _SIZES[dtype] if dtype != "F4" else n // 2
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, offset if data_len is None else data_len


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]], *, sparse: bool = True,
                      metadata: dict[str, str] | None = None) -> Path:
    """A valid file; its data region is a hole (sparse) so multi-GB shapes cost nothing on disk."""
    head, data_len = safetensors_bytes(tensors, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(head)
        if sparse:
            f.truncate(len(head) + data_len)
        else:
            f.write(b"\0" * data_len)
    return path


def write_raw(path: Path, header: dict[str, Any] | bytes, data_len: int = 0) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + data_len)
    return path


def llama_tensors(layers: int = 2, hidden: int = 64, inter: int = 128, vocab: int = 256, kv: int = 32,
                  dtype: str = "BF16") -> dict[str, tuple[str, list[int]]]:
    t: dict[str, tuple[str, list[int]]] = {"model.embed_tokens.weight": (dtype, [vocab, hidden])}
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = (dtype, [hidden, hidden])
        t[p + "self_attn.k_proj.weight"] = (dtype, [kv, hidden])
        t[p + "self_attn.v_proj.weight"] = (dtype, [kv, hidden])
        t[p + "self_attn.o_proj.weight"] = (dtype, [hidden, hidden])
        t[p + "mlp.gate_proj.weight"] = (dtype, [inter, hidden])
        t[p + "mlp.up_proj.weight"] = (dtype, [inter, hidden])
        t[p + "mlp.down_proj.weight"] = (dtype, [hidden, inter])
        t[p + "input_layernorm.weight"] = (dtype, [hidden])
        t[p + "post_attention_layernorm.weight"] = (dtype, [hidden])
    t["model.norm.weight"] = (dtype, [hidden])
    t["lm_head.weight"] = (dtype, [vocab, hidden])
    return t


def write_gguf(path: Path, *, n_tokens: int = 300) -> Path:
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    w = GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_context_length(2048)
    w.add_token_list([f"tok{i}".encode() for i in range(n_tokens)])
    w.add_tensor("token_embd.weight", np.zeros((n_tokens, 64), dtype=np.float16))
    q = quantize(np.random.default_rng(0).random((64, 256), dtype=np.float32), GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=GGMLQuantizationType.Q8_0)
    w.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
