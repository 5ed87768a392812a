"""Local readers on tiny real files: exact bytes, strict validation, clear errors, bounded reads."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from tests.fixtures_files import llama_tensors, safetensors_bytes, write_gguf, write_raw, write_safetensors
from vramcalc.errors import SourceError
from vramcalc.readers import read_local
from vramcalc.readers.gguf import NeedMoreBytes, parse_gguf_prefix, read_gguf_file
from vramcalc.readers.safetensors_header import parse_safetensors_header


def test_safetensors_written_by_the_reference_library(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file({"a.weight": np.zeros((3, 5), dtype=np.float16), "b.bias": np.zeros(7, dtype=np.float32)}, str(path))
    inv = read_local(path)
    assert {t.name: (t.dtype, t.shape, t.nbytes) for t in inv.tensors} == {
        "a.weight": ("F16", (3, 5), 30), "b.bias": ("F32", (7,), 28)}
    assert inv.files[0].size == path.stat().st_size


def test_sharded_folder_with_index_and_config(tmp_path: Path) -> None:
    tensors = llama_tensors()
    names = list(tensors)
    half = len(names) // 2
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {n: tensors[n] for n in names[:half]})
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {n: tensors[n] for n in names[half:]})
    weight_map = {n: f"model-0000{1 if i < half else 2}-of-00002.safetensors" for i, n in enumerate(names)}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2}))
    inv = read_local(tmp_path)
    assert len(inv.files) == 2 and len(inv.tensors) == len(names)
    assert inv.total_bytes == sum(2 * _numel(shape) for _, shape in tensors.values())
    assert inv.config == {"model_type": "llama", "num_hidden_layers": 2}
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(SourceError, match="shard model-00002-of-00002.safetensors named in"):
        read_local(tmp_path)


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def test_diffusers_pipeline_components(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline",
                                                           "transformer": ["diffusers", "X"], "vae": ["d", "Y"]}))
    write_safetensors(tmp_path / "transformer/diffusion_pytorch_model.safetensors", {"w": ("BF16", [64, 64])})
    write_safetensors(tmp_path / "vae/diffusion_pytorch_model.safetensors", {"v": ("F32", [8, 8])})
    inv = read_local(tmp_path)
    assert inv.components == ["transformer", "vae"]
    assert inv.total_bytes == 64 * 64 * 2 + 64 * 4


def test_ten_gigabyte_file_reads_only_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_safetensors(tmp_path / "big.safetensors", {"w": ("BF16", [50_000, 100_000])})
    assert path.stat().st_size > 10**10
    read_bytes: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *a, **k):  # type: ignore[no-untyped-def]
        f = real_open(self, *a, **k)
        real_read = f.read

        def read(n: int = -1) -> bytes:
            data = real_read(n)
            read_bytes.append(len(data))
            return data

        f.read = read  # type: ignore[method-assign]
        return f

    monkeypatch.setattr(Path, "open", counting_open)
    inv = read_local(path)
    assert inv.total_bytes == 10**10 and sum(read_bytes) < 1000


def test_packed_gptq_reports_true_params(tmp_path: Path) -> None:
    t = {"model.layers.0.mlp.up_proj.qweight": ("I32", [512, 1024]),  # in=4096, 4-bit → 4096/8 rows
         "model.layers.0.mlp.up_proj.qzeros": ("I32", [32, 128]),
         "model.layers.0.mlp.up_proj.scales": ("F16", [32, 1024]),
         "model.layers.0.mlp.up_proj.g_idx": ("I32", [4096]),
         "model.embed_tokens.weight": ("F16", [100, 4096])}
    write_safetensors(tmp_path / "model.safetensors", t)
    (tmp_path / "config.json").write_text(json.dumps(
        {"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}}))
    inv = read_local(tmp_path)
    assert inv.quantization is not None and inv.quantization.scheme == "gptq"
    assert inv.total_params == 4096 * 1024 + 100 * 4096
    assert inv.stored_elements < inv.total_params


def test_gguf_file_exact(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf")
    g = read_gguf_file(path)
    by_name = {t.name: t for t in g.tensors}
    assert by_name["blk.0.attn_q.weight"].dtype == "Q8_0"
    assert by_name["blk.0.attn_q.weight"].nbytes == 64 * 256 // 32 * 34
    assert by_name["token_embd.weight"].shape == (300, 64)
    assert g.metadata["tokenizer.ggml.tokens"] == {"type": "array", "len": 300}
    inv = read_local(path)
    assert inv.kind == "gguf" and inv.files[0].header_bytes == g.data_offset
    buf = path.read_bytes()
    with pytest.raises(NeedMoreBytes):
        parse_gguf_prefix(buf[:100], name="m.gguf", file_size=None)
    assert len(parse_gguf_prefix(buf[: g.data_offset], name="m.gguf", file_size=None).tensors) == 3


BAD = "Error: "


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"\x01\x02"), "file too short for a safetensors header"),
        (lambda p: p.write_bytes(struct.pack("<Q", 10**6) + b"{}"), "header claims 1,000,000 bytes but the file"),
        (lambda p: p.write_bytes(struct.pack("<Q", 200_000_000)), "over the 100 MB limit"),
        (lambda p: write_raw(p, b"\xff\xfe{}"), "header is not valid UTF-8"),
        (lambda p: write_raw(p, b"{not json"), "header is not valid JSON"),
        (lambda p: write_raw(p, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12), "overlap"),
        (lambda p: write_raw(p, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12), "gap"),
        (lambda p: write_raw(p, {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8),
         "needs 12 bytes but its offsets span 8"),
        (lambda p: write_raw(p, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, 4),
         "truncated or padded"),
        (lambda p: write_raw(p, {"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, 8),
         "invalid shape"),
    ],
)
def test_bad_safetensors_give_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.safetensors"
    make(path)
    r = run_cli(capsys, "inspect", str(path))
    assert r.code == 1 and r.out == ""
    assert r.err.startswith(BAD) and message in r.err and r.err.count("\n") == 1, r.err


def test_unknown_dtype_is_reported_and_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_raw(tmp_path / "x.safetensors", {"w": {"dtype": "F3_NEW", "shape": [4], "data_offsets": [0, 2]}}, 2)
    r = run_cli(capsys, "inspect", str(tmp_path / "x.safetensors"), "--json")
    assert r.code == 0 and r.json()["bytes"] == 2
    assert "F3_NEW" in " ".join(r.json()["warnings"])


def test_gguf_absurd_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**60, 1) + b"\0" * 64)
    r = run_cli(capsys, "inspect", str(path))
    assert r.code == 1 and "tensor count claims" in r.err and r.err.count("\n") == 1
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40) + b"k" * 16)
    r = run_cli(capsys, "inspect", str(path))
    assert r.code == 1 and "metadata key length claims" in r.err


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: None, "no .safetensors, .gguf or config.json"),
    (lambda p: (p / "pytorch_model.bin").write_bytes(b"x"), "pickle checkpoints (pytorch_model.bin) are not read"),
])
def test_folders_without_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str], setup, message) -> None:  # type: ignore[no-untyped-def]
    setup(tmp_path)
    r = run_cli(capsys, "inspect", str(tmp_path))
    assert r.code == 1 and message in r.err and r.err.count("\n") == 1


def test_estimate_reprices_real_tensors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_safetensors(tmp_path / "model.safetensors", llama_tensors(hidden=256, inter=512, kv=64, vocab=512))
    data = run_cli(capsys, "estimate", str(tmp_path), "--json").json()
    rows = {r["format"]: r for r in data["rows"]}
    assert rows["as stored"]["weight_bytes"] == data["model"]["stored_bytes"]
    # nf4 leaves norms, embeddings and lm_head in bf16: more than 4.5 bits per weight overall.
    assert rows["nf4"]["bits_per_weight"] > 4.5 and "stay BF16" in " ".join(rows["nf4"]["kept"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_safetensors_header(data: bytes) -> None:
    try:
        parse_safetensors_header(data, name="fuzz", file_size=None)
    except SourceError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_mutated_headers(data: st.DataObject) -> None:
    head, data_len = safetensors_bytes(llama_tensors(layers=1))
    raw = bytearray(head[8:])
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_safetensors_header(bytes(raw), name="fuzz", file_size=8 + len(raw) + data_len)
    except SourceError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_fuzz_gguf(data: bytes) -> None:
    try:
        parse_gguf_prefix(b"GGUF" + data, name="fuzz", file_size=4 + len(data))
    except (SourceError, NeedMoreBytes):
        pass


# One 4096 → 1024 projection (in = 4096 features, out = 1024) stored by each tool, plus a 100 × 4096 fp16
# embedding table; every layout must give back 4096 × 1024 + 100 × 4096 parameters. Layouts as the tools write
# them: AutoAWQ GEMM (qweight [in, out·bits/32]), bitsandbytes 4-bit via transformers (uint8 [n/2, 1] + absmax,
# quant_map, quant_state; nested_* with double quant), LLM.int8 (int8 weight + SCB), compressed-tensors
# pack-quantized (weight_packed int32 [out, in·bits/32], weight_scale, weight_shape), gpt-oss MXFP4 (uint8 blocks
# of 32 FP4 values in 16 bytes + one uint8 scale per block), FP8 per-tensor (weight_scale, input_scale).
_PROJ = "model.layers.0.mlp.up_proj"
_PACKED = {
    "awq": ({f"{_PROJ}.qweight": ("I32", [4096, 128]), f"{_PROJ}.qzeros": ("I32", [32, 128]),
             f"{_PROJ}.scales": ("F16", [32, 1024])},
            {"quant_method": "awq", "bits": 4, "group_size": 128}),
    "bitsandbytes-4bit": ({f"{_PROJ}.weight": ("U8", [2097152, 1]), f"{_PROJ}.weight.absmax": ("F32", [65536]),
                           f"{_PROJ}.weight.quant_map": ("F32", [16]),
                           f"{_PROJ}.weight.nested_absmax": ("F32", [256]),
                           f"{_PROJ}.weight.nested_quant_map": ("F32", [256]),
                           f"{_PROJ}.weight.quant_state.bitsandbytes__nf4": ("U8", [120])},
                          {"quant_method": "bitsandbytes", "load_in_4bit": True}),
    "bitsandbytes-int8": ({f"{_PROJ}.weight": ("I8", [1024, 4096]), f"{_PROJ}.SCB": ("F32", [1024]),
                           f"{_PROJ}.weight_format": ("U8", [1])},
                          {"quant_method": "bitsandbytes", "load_in_8bit": True}),
    "compressed-tensors": ({f"{_PROJ}.weight_packed": ("I32", [1024, 512]),
                            f"{_PROJ}.weight_scale": ("BF16", [1024, 32]), f"{_PROJ}.weight_shape": ("I64", [2])},
                           {"quant_method": "compressed-tensors", "format": "pack-quantized"}),
    "mxfp4": ({"model.layers.0.mlp.experts.gate_up_proj_blocks": ("U8", [1, 1024, 128, 16]),
               "model.layers.0.mlp.experts.gate_up_proj_scales": ("U8", [1, 1024, 128])},
              {"quant_method": "mxfp4"}),
    "fp8": ({f"{_PROJ}.weight": ("F8_E4M3", [1024, 4096]), f"{_PROJ}.weight_scale": ("F32", []),
             f"{_PROJ}.input_scale": ("F32", [])},
            {"quant_method": "fp8"}),
}


@pytest.mark.parametrize("scheme", sorted(_PACKED))
def test_packed_layouts_report_true_params(tmp_path: Path, scheme: str) -> None:
    tensors, qcfg = _PACKED[scheme]
    write_safetensors(tmp_path / "model.safetensors", {**tensors, "model.embed_tokens.weight": ("F16", [100, 4096])})
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": qcfg}))
    inv = read_local(tmp_path)
    assert inv.quantization is not None and inv.quantization.scheme == scheme
    assert inv.total_params == 4096 * 1024 + 100 * 4096
    # the bytes stay exactly what the file holds: scales and zero points included
    assert inv.total_bytes == sum(t.nbytes for t in inv.tensors)
    # inspect's shares count parameters the same way, so they add up to the true total
    from vramcalc.inspect_report import build_inspect_report

    report = build_inspect_report(inv)
    for shares in (report.by_class, report.by_dtype):
        assert sum(s.params for s in shares) == inv.total_params
        assert sum(s.bytes for s in shares) == inv.total_bytes


def test_a_gguf_folder_with_its_vision_projector(tmp_path: Path) -> None:
    # llama.cpp multimodal folders: the model GGUF and an mmproj-*.gguf beside it — the model is the one to read
    write_gguf(tmp_path / "model-Q4_K_M.gguf")
    write_gguf(tmp_path / "mmproj-model-f16.gguf", n_tokens=10)
    inv = read_local(tmp_path)
    assert inv.kind == "gguf" and [Path(f.path).name for f in inv.files] == ["model-Q4_K_M.gguf"]


def test_inspect_names_the_gguf_file_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np = pytest.importorskip("numpy")
    from gguf import GGUFWriter

    path = tmp_path / "ft.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_file_type(15)  # llama.h: LLAMA_FTYPE_MOSTLY_Q4_K_M = 15
    w.add_tensor("token_embd.weight", np.zeros((100, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = run_cli(capsys, "inspect", str(path), "--json").json()
    assert data["file_type"] == "Q4_K_M" and data["bits_per_weight"] == 16.0
    assert "llama.cpp file type Q4_K_M" in run_cli(capsys, "inspect", str(path)).out.replace("\n", " ")
