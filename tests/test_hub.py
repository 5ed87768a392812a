"""The Hub path through the real huggingface_hub client, against a local server (tests/hub_server.py)."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import llama_tensors, safetensors_bytes, write_gguf
from tests.hub_server import FakeHub, RemoteFile

CONFIG = json.dumps({"model_type": "llama", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
                     "tie_word_embeddings": False}).encode()


def _shard(tensors: dict[str, tuple[str, list[int]]]) -> RemoteFile:
    head, data_len = safetensors_bytes(tensors)
    return RemoteFile(head, len(head) + data_len)


def test_single_file_repo(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/tiny", {"config.json": CONFIG, "model.safetensors": _shard(llama_tensors(kv=32))})
    r = run_cli(capsys, "inspect", "org/tiny", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["kind"] == "hub" and data["params"] == sum(
        _n(s) for _, s in llama_tensors(kv=32).values())
    assert data["architecture"]["layers"] == 2


def _n(shape: list[int]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def test_thirty_multi_gb_shards_transfer_only_headers(fake_hub: FakeHub) -> None:
    files: dict[str, bytes | RemoteFile] = {"config.json": CONFIG}
    weight_map = {}
    for i in range(30):
        name = f"model-{i + 1:05d}-of-00030.safetensors"
        tensors = {f"model.layers.{i}.mlp.{p}.weight": ("BF16", [14336, 4096]) for p in ("gate_proj", "up_proj")}
        tensors |= {f"model.layers.{i}.mlp.down_proj.weight": ("BF16", [4096, 14336])}
        files[name] = _shard(tensors)
        weight_map |= dict.fromkeys(tensors, name)
    files["model.safetensors.index.json"] = json.dumps({"weight_map": weight_map}).encode()
    fake_hub.add("org/big", files)
    from vramcalc.readers import read_repo

    inv = read_repo("org/big")
    assert len(inv.files) == 30 and inv.total_bytes == 30 * 3 * 14336 * 4096 * 2  # ~10.6 GB declared
    assert fake_hub.bytes_sent < 4_000_000


def test_gguf_repo_reads_growing_prefixes(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = write_gguf(tmp_path / "m.gguf", n_tokens=120_000).read_bytes()  # header > the first 1 MiB range
    fake_hub.add("org/gguf", {"m.gguf": data})
    from vramcalc.readers import read_repo

    inv = read_repo("org/gguf")
    assert inv.kind == "gguf" and {t.name for t in inv.tensors} == {
        "token_embd.weight", "blk.0.attn_q.weight", "output_norm.weight"}
    assert inv.metadata["tokenizer.ggml.tokens"] == {"type": "array", "len": 120_000}


def test_revision(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/rev", {"model.safetensors": _shard({"w": ("F16", [4, 4])})}, revisions=("main", "v2"))
    assert run_cli(capsys, "inspect", "org/rev", "--revision", "v2", "--json").json()["source"] == "org/rev@v2"
    r = run_cli(capsys, "inspect", "org/rev", "--revision", "nope")
    assert r.code == 1 and r.err == "Error: org/rev has no revision 'nope' — check the branch, tag or commit\n"


def test_gated_repo_and_the_token_is_never_shown(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    secret = "hf_SECRETsecretSECRET123"
    fake_hub.add("org/gated", {"model.safetensors": _shard({"w": ("F16", [4, 4])})}, token=secret)
    caplog.set_level(logging.DEBUG)
    r = run_cli(capsys, "inspect", "org/gated")
    assert r.code == 1 and r.err.startswith("Error: org/gated is gated or private")
    r = run_cli(capsys, "inspect", "org/gated", "--token", "hf_wrongwrongwrong")
    assert r.code == 1 and "hf_wrong" not in r.err
    r = run_cli(capsys, "inspect", "org/gated", "--token", secret, "--json")
    assert r.code == 0 and r.json()["params"] == 16
    assert f"Bearer {secret}" in fake_hub.seen_auth
    assert secret not in r.out + r.err + caplog.text


def test_missing_and_rate_limited(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "org/missing")
    assert r.code == 1 and r.err.startswith("Error: org/missing was not found on")
    fake_hub.add("org/busy", {"config.json": CONFIG})
    fake_hub.rate_limited = True
    r = run_cli(capsys, "inspect", "org/busy")
    assert r.code == 1 and "rate-limiting" in r.err and r.err.count("\n") == 1


def test_connection_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    r = run_cli(capsys, "inspect", "org/anything")
    assert r.code == 1 and r.err.startswith(f"Error: cannot reach http://127.0.0.1:{port}")


def test_a_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import time

    # the kernel completes the connection (listen backlog), nobody ever reads or answers
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{s.getsockname()[1]}")
        monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "1")  # huggingface_hub's variable, read as it reads it
        t0 = time.monotonic()
        r = run_cli(capsys, "inspect", "org/anything")
        elapsed = time.monotonic() - t0
    assert r.code == 1 and r.err.startswith("Error: the Hub did not answer in time for org/anything")
    assert elapsed < 10


def test_config_only_repo_is_counted(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/cfg", {"config.json": CONFIG, "README.md": b"hi"})
    data = run_cli(capsys, "estimate", "org/cfg", "-d", "bf16", "--json").json()
    assert data["model"]["params"] > 0 and data["model"]["kind"] == "config"


def _snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_id: str) -> Path:
    """An empty snapshot of `repo_id` in a fresh HF cache (HF_HUB_CACHE), its main ref pointing at it."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    return snap


def test_cache_first_and_offline(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    snap = _snapshot(tmp_path, monkeypatch, "org/cached")
    (snap / "config.json").write_bytes(CONFIG)
    r = run_cli(capsys, "inspect", "org/cached", "--json")
    assert r.code == 0 and r.json()["kind"] == "config" and fake_hub.requests == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = run_cli(capsys, "inspect", "org/elsewhere")
    assert r.code == 1 and "not in the local cache and HF_HUB_OFFLINE is set" in r.err


def _gguf_part(path: Path, tensor: str) -> bytes:
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_tensor(tensor, np.zeros((64, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def test_one_gguf_of_many_by_its_quant(fake_hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a typical GGUF repo: several quants, one of them split in two parts, and a vision projector
    fake_hub.add("org/many", {
        "Model-Q4_K_M.gguf": write_gguf(tmp_path / "a.gguf").read_bytes(),
        "Model-Q8_0-00001-of-00002.gguf": _gguf_part(tmp_path / "p1.gguf", "blk.0.attn_q.weight"),
        "Model-Q8_0-00002-of-00002.gguf": _gguf_part(tmp_path / "p2.gguf", "blk.0.attn_k.weight"),
        "mmproj-Model-f16.gguf": _gguf_part(tmp_path / "mm.gguf", "v.blk.0.attn_q.weight"),
    })
    several = run_cli(capsys, "inspect", "org/many")
    assert several.code == 1 and several.err.startswith("Error: org/many holds 2 GGUF files (Model-Q4_K_M.gguf, "
                                                         "Model-Q8_0.gguf)")
    assert "name one by its quant, e.g. org/many:Q4_K_M" in several.err
    one = run_cli(capsys, "inspect", "org/many:Q4_K_M", "--json").json()
    assert one["kind"] == "gguf" and one["source"] == "org/many:Model-Q4_K_M.gguf"
    split = run_cli(capsys, "inspect", "org/many:q8_0", "--json").json()  # case-insensitive
    assert [f["path"] for f in split["files"]] == ["Model-Q8_0-00001-of-00002.gguf", "Model-Q8_0-00002-of-00002.gguf"]
    assert split["params"] == 2 * 64 * 64
    none = run_cli(capsys, "inspect", "org/many:IQ1_S")
    assert none.code == 1 and "no GGUF file matches 'IQ1_S'" in none.err
    est = run_cli(capsys, "estimate", "org/many:Q4_K_M", "--json").json()
    assert est["rows"][0]["engine"] == "llama.cpp" and est["rows"][0]["format"] == "as stored"


def test_a_quant_tag_picks_from_the_cache_too(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    snap = _snapshot(tmp_path, monkeypatch, "org/quants")
    write_gguf(snap / "M-Q4_K_M.gguf")
    (snap / "M-Q8_0.gguf").write_bytes(_gguf_part(tmp_path / "q8.gguf", "blk.0.attn_q.weight"))
    r = run_cli(capsys, "inspect", "org/quants:Q8_0", "--json")
    assert r.code == 0 and r.json()["params"] == 64 * 64 and fake_hub.requests == 0
    several = run_cli(capsys, "inspect", "org/quants")
    assert several.code == 1 and "org/quants holds 2 GGUF files" in several.err and "org/quants:Q4_K_M" in several.err


def test_a_pasted_hub_address(fake_hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vramcalc.resolve import from_hub_url

    assert from_hub_url("https://huggingface.co/Qwen/Qwen3-8B/tree/v2") == ("Qwen/Qwen3-8B", "v2", None)
    assert from_hub_url("hf.co/unsloth/Qwen3-8B-GGUF:Q4_K_M") == ("unsloth/Qwen3-8B-GGUF:Q4_K_M", None, None)
    assert from_hub_url("https://huggingface.co/o/n/resolve/main/M-Q8_0-00001-of-00002.gguf")[0] == "o/n:M-Q8_0"
    assert from_hub_url("https://example.com/o/n") is None
    fake_hub.add("org/many", {
        "Model-Q4_K_M.gguf": write_gguf(tmp_path / "a.gguf").read_bytes(),
        "Model-Q8_0-00001-of-00002.gguf": _gguf_part(tmp_path / "p1.gguf", "blk.0.attn_q.weight"),
        "Model-Q8_0-00002-of-00002.gguf": _gguf_part(tmp_path / "p2.gguf", "blk.0.attn_k.weight"),
    })
    url = "https://huggingface.co/org/many/blob/main/Model-Q8_0-00001-of-00002.gguf"
    data = run_cli(capsys, "inspect", url, "--json").json()
    assert len(data["files"]) == 2 and data["params"] == 2 * 64 * 64


@pytest.mark.parametrize("list_sizes", [True, False], ids=["listing-sizes", "range-answer-sizes"])
def test_a_gguf_from_the_hub_has_its_true_file_size(fake_hub: FakeHub, tmp_path: Path, list_sizes: bool,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # issue 9 item 16: the size came out 0 when the listing had none; now the listing's size, else Content-Range
    fake_hub.list_sizes = list_sizes
    one = write_gguf(tmp_path / "a.gguf").read_bytes()
    p1 = _gguf_part(tmp_path / "p1.gguf", "blk.0.attn_q.weight")
    p2 = _gguf_part(tmp_path / "p2.gguf", "blk.0.attn_k.weight")
    fake_hub.add("org/x-GGUF", {
        "x-Q4_K_M.gguf": RemoteFile(one, 4_920_000_000),  # the tensor data, then padding up to a declared size
        "x-Q8_0-00001-of-00002.gguf": RemoteFile(p1, len(p1) + 7),
        "x-Q8_0-00002-of-00002.gguf": p2,
    })
    r = run_cli(capsys, "inspect", "org/x-GGUF:Q4_K_M")
    assert r.code == 0, r.err
    assert "in 1 file(s) of 4.92 GB" in r.out
    data = run_cli(capsys, "inspect", "org/x-GGUF:Q4_K_M", "--json").json()
    assert [f["size"] for f in data["files"]] == [4_920_000_000]
    split = run_cli(capsys, "inspect", "org/x-GGUF:Q8_0", "--json").json()
    assert [f["size"] for f in split["files"]] == [len(p1) + 7, len(p2)]
    est = run_cli(capsys, "estimate", "org/x-GGUF:Q4_K_M", "--json").json()
    assert est["rows"][0]["file_bytes"] == 4_920_000_000
    cmp = run_cli(capsys, "compare", "org/x-GGUF:Q4_K_M", "org/x-GGUF:Q8_0", "--json").json()
    assert [e.get("file_bytes") for e in cmp["entries"]] == [4_920_000_000, len(p1) + 7 + len(p2)]


def test_the_fake_hub_reports_sizes_as_the_hub_does(fake_hub: FakeHub) -> None:
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    fake_hub.add("org/s", {"config.json": CONFIG, "m.gguf": RemoteFile(b"GGUF", 5_000_000_000)})
    api = HfApi(endpoint=fake_hub.url)
    assert all(s.size is None for s in api.model_info("org/s").siblings or [])  # sizes only when asked
    siblings = {s.rfilename: s for s in api.model_info("org/s", files_metadata=True).siblings or []}
    assert siblings["m.gguf"].size == 5_000_000_000 and siblings["m.gguf"].lfs is not None
    assert siblings["m.gguf"].lfs.size == 5_000_000_000
    assert siblings["config.json"].size == len(CONFIG) and siblings["config.json"].lfs is None
    meta = get_hf_file_metadata(hf_hub_url("org/s", "m.gguf", endpoint=fake_hub.url))
    assert meta.size == 5_000_000_000  # X-Linked-Size on the redirect to the CDN


def test_compare_prices_a_hub_repo_in_the_format_given(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/tiny", {"config.json": CONFIG, "model.safetensors": _shard(llama_tensors(kv=32))})
    data = run_cli(capsys, "compare", "org/tiny:Q8_0", "org/tiny", "--json").json()
    q8, stored = data["entries"]
    assert (q8["format"], stored["format"]) == ("Q8_0", "as stored") and q8["params"] == stored["params"]
    assert q8["weight_bytes"] < stored["weight_bytes"]
