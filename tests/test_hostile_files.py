"""Issue 13 items 1, 8, 11, 13, 14: local files that strangers wrote — paths named inside them stay in their folder,
nothing but a regular file is opened for reading, an error never echoes a file's bytes, and GGUF metadata is
skipped, not read into memory."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import llama_tensors, write_gguf, write_safetensors

fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")


def _cli(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess: a regression that blocks (a FIFO opened for reading) fails the test, never hangs
    the suite."""
    return subprocess.run([sys.executable, "-m", "vramcalc", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# --------------------------------------------------------------------------- item 1: paths stay in the folder


def test_a_pipeline_component_outside_the_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    write_safetensors(other / "model.safetensors", {"secret.weight": ("F16", [64, 64])})
    pipe = tmp_path / "a" / "b" / "pipe"
    write_safetensors(pipe / "vae" / "diffusion_pytorch_model.safetensors", {"w": ("F16", [4, 4])})
    (pipe / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline", "vae": ["d", "A"],
                                                      "../../../other": ["x", "y"]}))
    r = run_cli(capsys, "inspect", str(pipe))
    assert r.code == 1 and "names a component outside its folder ('../../../other')" in r.err


@pytest.mark.parametrize("entry", ["/etc/passwd", "../../../x.safetensors", "sub/../../x.safetensors"])
def test_an_index_entry_outside_the_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      entry: str) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": entry}}))
    r = run_cli(capsys, "inspect", str(tmp_path))
    assert r.code == 1 and "names a shard outside its folder" in r.err


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n", b"#!/bin/sh\necho hi\n" * 3,
                                     b"\xff" * 16])
def test_an_error_never_echoes_a_files_bytes_as_a_length(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         content: bytes) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    r = run_cli(capsys, "inspect", str(path))
    first8 = struct.unpack("<Q", content[:8])[0]
    assert r.code == 1 and "not a safetensors file" in r.err
    assert f"{first8:,}" not in r.err and str(first8) not in r.err


def test_a_snapshot_linked_out_of_the_cache_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside"
    write_safetensors(outside / "model.safetensors", {"w": ("F16", [4, 4])})
    repo = tmp_path / "hub" / "models--org--m"
    (repo / "snapshots").mkdir(parents=True)
    (repo / "snapshots" / "abc").symlink_to(outside)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    r = run_cli(capsys, "inspect", "org/m")
    assert r.code == 1 and "points outside" in r.err


# --------------------------------------------------------------------------- item 11: only regular files


@fifo_only
@pytest.mark.parametrize("name", ["m.safetensors", "m.gguf", "config.json"])
def test_a_fifo_model_file_is_refused(tmp_path: Path, name: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    r = _cli("inspect", str(fifo))
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "not a regular file" in r.stderr


@fifo_only
@pytest.mark.parametrize("name", ["model-00002-of-00002.safetensors", "config.json", "model.safetensors.index.json"])
def test_a_fifo_inside_a_model_folder_is_refused(tmp_path: Path, name: str) -> None:
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"w": ("F16", [4, 4])})
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"v": ("F16", [4, 4])})
    (tmp_path / "config.json").write_text("{}")
    index = {"weight_map": {"w": "model-00001-of-00002.safetensors", "v": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / name).unlink()
    os.mkfifo(tmp_path / name)
    r = _cli("inspect", str(tmp_path))
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr


@fifo_only
def test_a_fifo_in_a_cache_snapshot_is_refused(tmp_path: Path) -> None:
    snap = tmp_path / "hub" / "models--org--m" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    os.mkfifo(snap / "model.safetensors")
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("abc")
    r = _cli("inspect", "org/m", env={"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 1 and "not a regular file" in r.stderr


@fifo_only
def test_a_fifo_formats_file_is_refused_by_every_command(tmp_path: Path) -> None:
    fifo = tmp_path / "f.toml"
    os.mkfifo(fifo)
    for args in (["estimate", "7B"], ["compare", "7B", "8B"], ["formats"]):
        r = _cli(*args, "--formats", str(fifo))
        assert r.returncode == 1 and "is not a regular file" in r.stderr, (args, r.stderr)


# --------------------------------------------------------------------------- item 14: odd arguments


def test_an_empty_model_argument_is_not_the_current_folder(capsys: pytest.CaptureFixture[str]) -> None:
    for text in ("", "  "):
        r = run_cli(capsys, "estimate", text)
        assert r.code == 2 and r.err.startswith("Error: empty model argument")


@pytest.mark.parametrize("text", ["x" * 300, "a/" + "b" * 300, "7B-" + "Q" * 300, "\x00bad"])
def test_a_long_or_odd_model_argument_is_a_clean_error(capsys: pytest.CaptureFixture[str], text: str) -> None:
    r = run_cli(capsys, "estimate", text)
    assert r.code in (1, 2) and r.err.startswith("Error: ") and "internal error" not in r.err
    assert len(r.err) < 1000


# --------------------------------------------------------------------------- item 8, 13: GGUF metadata


def _gguf(kv: list[tuple[str, int, bytes]], n_tensors: int = 0, tail: int = 0) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(kv))
    for key, vtype, value in kv:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<i", vtype) + value
    return out + b"\0" * tail


def _sparse(path: Path, head: bytes, size: int) -> Path:
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def test_a_huge_metadata_array_is_skipped_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 3 << 30  # 3 GiB of u8: a sparse file, so it costs no disk
    head = _gguf([("general.architecture", 8, struct.pack("<Q", 5) + b"llama"),
                  ("junk", 9, struct.pack("<iQ", 0, n))])
    path = _sparse(tmp_path / "m.gguf", head, len(head) + n)
    import tracemalloc

    tracemalloc.start()
    t0 = time.monotonic()
    r = run_cli(capsys, "inspect", str(path), "--json")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert r.code == 0, r.err
    assert time.monotonic() - t0 < 10 and peak < 64 << 20


def test_too_many_strings_are_refused_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 1 << 27  # empty strings: 8 bytes each
    head = _gguf([("tokenizer.ggml.tokens", 9, struct.pack("<iQ", 8, n))])
    path = _sparse(tmp_path / "m.gguf", head, len(head) + 8 * n)
    t0 = time.monotonic()
    r = run_cli(capsys, "inspect", str(path))
    assert r.code == 1 and "more than vramcalc reads" in r.err
    assert time.monotonic() - t0 < 15


def test_too_many_keys_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 26)
    path = _sparse(tmp_path / "m.gguf", head, len(head) + 12 * (1 << 26))
    r = run_cli(capsys, "inspect", str(path))
    assert r.code == 1 and "metadata count claims 67,108,864, more than vramcalc reads" in r.err


@pytest.mark.parametrize("value", [
    (8, struct.pack("<Q", 2) + b"32"),  # a string
    (9, struct.pack("<iQ", 4, 1) + struct.pack("<I", 32)),  # an array
    (6, struct.pack("<f", float("nan"))),
    (12, struct.pack("<d", float("inf"))),
    (4, struct.pack("<I", 48)),  # not a power of two
    (7, struct.pack("<?", True)),
])
def test_a_malformed_alignment_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        value: tuple[int, bytes]) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(_gguf([("general.alignment", *value)], tail=64))
    r = run_cli(capsys, "inspect", str(path))
    assert r.code == 1 and "general.alignment" in r.err and "is not a power of two" in r.err, r.err


def test_a_gguf_still_reads_after_the_rewrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_gguf(tmp_path / "m.gguf", n_tokens=70_000)
    r = run_cli(capsys, "inspect", str(path), "--json")
    assert r.code == 0 and r.json()["params"] == 70_000 * 64 + 64 * 256 + 64


def test_a_local_gguf_with_a_custom_type_from_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 9 item 13: a type defined in --formats is known to the GGUF reader (it was loaded again without it)."""
    def text(v: str) -> bytes:
        return struct.pack("<Q", len(v)) + v.encode()

    head = _gguf([("general.architecture", 8, text("llama")), ("llama.block_count", 4, struct.pack("<I", 1)),
                  ("llama.embedding_length", 4, struct.pack("<I", 64)),
                  ("llama.attention.head_count", 4, struct.pack("<I", 4))], n_tensors=1)
    head += text("blk.0.attn_q.weight") + struct.pack("<IqqiQ", 2, 64, 64, 99, 0)  # 64 × 64 of ggml type 99
    head += b"\0" * (-len(head) % 32)
    path = tmp_path / "m.gguf"
    path.write_bytes(head + b"\0" * (64 * 64 // 32 * 22))
    mine = tmp_path / "mine.toml"
    mine.write_text('[[format]]\nname = "MY_Q5"\nfamily = "gguf_type"\npayload_bits = 5\nblock_size = 32\n'
                    'ggml_type = 99\noverhead = [{ name = "fp16 scale", bits = 16, per = "block" }]\n')
    r = run_cli(capsys, "inspect", str(path))
    assert r.code == 1 and "add the type to a --formats file" in r.err
    for args in (["inspect", str(path), "--json"], ["estimate", str(path), "--json"]):
        r = run_cli(capsys, *args, "--formats", str(mine))
        assert r.code == 0, (args, r.err)
    data = run_cli(capsys, "inspect", str(path), "--formats", str(mine), "--json").json()
    assert data["by_dtype"][0]["name"] == "MY_Q5" and data["bytes"] == 64 * 64 // 32 * 22


def test_a_config_tree_nested_deep_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for depth in (5_000, 100_000):
        path = tmp_path / "config.json"
        path.write_text("[" * depth + "]" * depth)
        r = run_cli(capsys, "inspect", str(path))
        assert r.code == 1 and "nests objects or arrays too deeply" in r.err, r.err


def test_a_safetensors_header_of_odd_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.fixtures_files import write_raw

    cases = {
        "nan-meta": ({"__metadata__": {"a": float("nan")}}, "not valid JSON"),
        "nested-meta": ({"__metadata__": {"a": {"b": "c"}}}, "__metadata__ is not an object of strings"),
        "number-meta": ({"__metadata__": {"a": 1}}, "__metadata__ is not an object of strings"),
        "long-dim": (b'{"w": {"dtype": "F16", "shape": [' + b"9" * 4000 + b'], "data_offsets": [0, 2]}}',
                     "invalid shape"),
        "deep": (b'{"w": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests too deeply"),
    }
    for name, (header, message) in cases.items():
        raw = header if isinstance(header, bytes) else json.dumps(header).encode()
        path = write_raw(tmp_path / f"{name}.safetensors", raw)
        r = run_cli(capsys, "inspect", str(path))
        assert r.code == 1 and message in r.err, (name, r.err)


def test_stdout_closed_or_full_is_not_a_traceback(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "m.safetensors", llama_tensors())
    closed = subprocess.run([sys.executable, "-m", "vramcalc", "estimate", "7B"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert "Traceback" not in closed.stderr
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            r = subprocess.run([sys.executable, "-m", "vramcalc", "estimate", "7B"], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=60)
        assert "Traceback" not in r.stderr and r.returncode != 0
        assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
