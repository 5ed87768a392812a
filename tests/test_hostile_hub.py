"""Issue 13 items 1, 2, 5, 6, 7, 16 against the hostile local Hub (tests/hub_server.py's fault modes): paths that
leave the repo are never requested (so the token never goes there), every read is bounded in requests, bytes and
time, and what the server said is named."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import llama_tensors, safetensors_bytes, write_gguf
from tests.hub_server import FakeHub, RemoteFile
from vramcalc.readers.hub import EARLY

SECRET = "hf_tokenTOKENtoken1234"
CONFIG = json.dumps({"model_type": "llama", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}).encode()


def _shard(tensors: dict[str, tuple[str, list[int]]], size: int | None = None) -> RemoteFile:
    head, data_len = safetensors_bytes(tensors)
    return RemoteFile(head, size or len(head) + data_len)


def _only_inside(hub: FakeHub, repo: str) -> None:
    """Every request went to the repo's own addresses; the token only to the Hub's own host."""
    for path, auth in hub.log:
        assert path.startswith((f"/api/models/{repo}", f"/{repo}/resolve/", f"/cdn/{repo}/")), path
        assert ".." not in path and "%2e%2e" not in path.lower(), path
        assert not auth or path.startswith((f"/api/models/{repo}", f"/{repo}/resolve/")), path


# --------------------------------------------------------------------------- item 1, 2: traversal


@pytest.mark.parametrize("entry", ["../../../../etc/passwd", "/etc/passwd", "a/../../b.safetensors", "..\\x",
                                   "ok/./x.safetensors"])
def test_an_index_entry_outside_the_repo_is_never_requested(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                                           entry: str) -> None:
    index = {"weight_map": {"w": entry, "v": "model-00001-of-00001.safetensors"}}
    fake_hub.add("org/x", {"config.json": CONFIG, "model.safetensors.index.json": json.dumps(index).encode(),
                           "model-00001-of-00001.safetensors": _shard({"v": ("F16", [4, 4])})})
    r = run_cli(capsys, "inspect", "org/x", "--token", SECRET)
    assert r.code == 1 and "names a shard outside the repo" in r.err and SECRET not in r.err
    _only_inside(fake_hub, "org/x")


def test_listed_names_outside_the_repo_are_never_requested(fake_hub: FakeHub,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # a pipeline reads every `component/*.safetensors` of the listing: a hostile listing names one that climbs out
    fake_hub.add("org/p", {"model_index.json": b'{"_class_name": "FluxPipeline", "vae": ["x", "y"]}',
                           "vae/../../../../etc/x.safetensors": _shard({"w": ("F16", [4, 4])}),
                           "vae/diffusion_pytorch_model.safetensors": _shard({"w": ("F16", [4, 4])})})
    r = run_cli(capsys, "inspect", "org/p", "--token", SECRET, "--json")
    assert r.code == 0, r.err
    assert [f["path"] for f in r.json()["files"]] == ["vae/diffusion_pytorch_model.safetensors"]
    _only_inside(fake_hub, "org/p")


@pytest.mark.parametrize("revision", ["../../../etc", "..", "main/../../x", "/abs", "a\\b"])
def test_a_revision_that_climbs_is_refused_before_any_request(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                                              revision: str) -> None:
    fake_hub.add("org/x", {"config.json": CONFIG})
    r = run_cli(capsys, "inspect", "org/x", "--revision", revision)
    assert r.code == 2 and r.err.startswith("Error: --revision") and fake_hub.requests == 0


@pytest.mark.parametrize("repo", ["org/..", "../org", "org/a..b", "org/a--b", "org/.hidden"])
def test_a_repo_id_the_hub_would_refuse_is_not_requested(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                                         repo: str) -> None:
    r = run_cli(capsys, "inspect", repo)
    assert r.code in (1, 2) and fake_hub.requests == 0


def test_the_reader_refuses_names_outside_the_repo_itself(fake_hub: FakeHub) -> None:
    from vramcalc.errors import HubError
    from vramcalc.readers.hub import _Hub

    hub = _Hub("org/x", None, SECRET, None)
    for name in ("../../etc/passwd", "/etc/passwd", "a/../../b", "a\\b", "x\x00y"):
        with pytest.raises(HubError, match="refusing to request"):
            hub._get(name)
    assert fake_hub.requests == 0


def _cache_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str) -> Path:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    repo = cache / "models--org--c"
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "config.json").write_bytes(CONFIG)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(ref)
    return repo


@pytest.mark.parametrize("ref", ["../../../../outside", "/etc", "abc/../../x"])
def test_a_cache_ref_that_climbs_is_an_error(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str], ref: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_bytes(CONFIG)
    _cache_repo(tmp_path, monkeypatch, ref)
    r = run_cli(capsys, "inspect", "org/c")
    assert r.code == 1 and "does not hold a commit" in r.err and fake_hub.requests == 0


def test_a_good_cache_ref_is_still_followed(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _cache_repo(tmp_path, monkeypatch, "abc\n")
    r = run_cli(capsys, "inspect", "org/c", "--json")
    assert r.code == 0 and r.json()["kind"] == "config" and fake_hub.requests == 0


# --------------------------------------------------------------------------- item 5, 7: bounded reads


def _gguf_repo(hub: FakeHub, tmp_path: Path, n_tokens: int = 120_000) -> bytes:
    data = write_gguf(tmp_path / "m.gguf", n_tokens=n_tokens).read_bytes()  # header > the first 1 MiB range
    hub.add("org/g", {"m.gguf": data})
    return data


@pytest.mark.parametrize("mode", ["empty", "short"])
def test_empty_or_short_ranges_end_in_an_error_not_a_loop(fake_hub: FakeHub, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str], mode: str) -> None:
    _gguf_repo(fake_hub, tmp_path)
    fake_hub.range_mode, fake_hub.short_bytes = mode, 1000
    t0 = time.monotonic()
    r = run_cli(capsys, "inspect", "org/g")
    assert r.code == 1 and r.err.count("\n") == 1, r.err
    assert time.monotonic() - t0 < 20 and fake_hub.requests <= 1 + len(EARLY) + 2 * 32  # listing, EARLY, resolve + CDN


def test_a_gguf_header_skips_what_it_does_not_read(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = _gguf_repo(fake_hub, tmp_path, n_tokens=300_000)
    from vramcalc.readers import read_repo

    inv = read_repo("org/g")
    assert inv.metadata["tokenizer.ggml.tokens"] == {"type": "array", "len": 300_000}
    # the listing, then resolve + CDN per range: 1 MiB, then windows of 1, 2, 4 MiB through the vocabulary's strings
    assert fake_hub.requests <= 1 + len(EARLY) + 2 * 5 and fake_hub.bytes_sent < 2 * len(data) + 100_000


def test_a_proxy_that_ignores_range_is_read_only_as_far_as_needed(fake_hub: FakeHub,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/big", {"config.json": CONFIG, "model.safetensors": _shard(llama_tensors(), size=None)})
    want = run_cli(capsys, "inspect", "org/big", "--json").json()["params"]
    fake_hub.range_mode = "ignore"
    r = run_cli(capsys, "inspect", "org/big", "--json")
    assert r.code == 0 and r.json()["params"] == want


def test_an_answer_of_ten_gigabytes_is_not_read_whole(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    import tracemalloc

    fake_hub.add("org/big", {"model.safetensors": _shard({"w": ("F16", [4, 4])})})
    fake_hub.endless, fake_hub.range_mode = True, "ignore"
    tracemalloc.start()
    t0 = time.monotonic()
    r = run_cli(capsys, "inspect", "org/big", "--json")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - t0 < 20
    assert r.code == 0 and r.json()["file_bytes"] == fake_hub.repos["org/big"].files["model.safetensors"].size
    assert peak < 64 << 20


def test_a_json_file_claiming_gigabytes_is_refused(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/cfg", {"config.json": CONFIG})
    fake_hub.endless = True
    r = run_cli(capsys, "inspect", "org/cfg")
    assert r.code == 1 and "org/cfg/config.json is larger than 64 MiB" in r.err


# --------------------------------------------------------------------------- item 6: one deadline


def test_a_dripping_server_meets_the_deadline(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/slow", {"config.json": CONFIG})
    fake_hub.drip = 0.3  # a byte every 0.3 s: no read ever times out
    monkeypatch.setenv("VRAMCALC_TIMEOUT", "2")
    t0 = time.monotonic()
    r = run_cli(capsys, "inspect", "org/slow")
    elapsed = time.monotonic() - t0
    fake_hub.drip = 0
    assert r.code == 1 and "took longer than 2 s" in r.err and "VRAMCALC_TIMEOUT" in r.err
    assert elapsed < 5


def test_a_bad_deadline_is_a_usage_error(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/cfg", {"config.json": CONFIG})
    monkeypatch.setenv("VRAMCALC_TIMEOUT", "soon")
    r = run_cli(capsys, "inspect", "org/cfg")
    assert r.code == 2 and r.err.startswith("Error: VRAMCALC_TIMEOUT='soon' is not a number of seconds")
    # huggingface_hub's per-read timeout, read by the same rule (it was silently replaced by 10 s)
    monkeypatch.delenv("VRAMCALC_TIMEOUT")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "-3")
    r = run_cli(capsys, "inspect", "org/cfg")
    assert r.code == 2 and r.err.startswith("Error: HF_HUB_DOWNLOAD_TIMEOUT='-3' is not a number of seconds")


# --------------------------------------------------------------------------- item 16: what the server said


@pytest.mark.parametrize(("status", "said"), [(500, "500 Internal Server Error"), (503, "503 Service Unavailable"),
                                              (418, "418 I'm a Teapot"), (416, "416 Requested Range Not Satisfiable")])
def test_server_errors_are_named(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str], status: int,
                                 said: str) -> None:
    fake_hub.add("org/x", {"config.json": CONFIG})
    fake_hub.fail_status, fake_hub.retry_after = status, "0"
    r = run_cli(capsys, "inspect", "org/x")
    assert r.code == 1 and "cannot reach" not in r.err and r.err.count("\n") == 1
    assert f"the Hub answered {said.split(' ', 1)[0]}" in r.err, r.err
    if status >= 500:
        # the listing 4 times; config.json and the index, asked for with it, once each
        assert "4 tries" in r.err and fake_hub.requests == 4 + len(EARLY)


def test_a_missing_shard_is_named_not_repo_not_found(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    index = {"weight_map": {"w": "model-00001-of-00002.safetensors", "v": "model-00002-of-00002.safetensors"}}
    fake_hub.add("org/x", {"model.safetensors.index.json": json.dumps(index).encode(),
                           "model-00001-of-00002.safetensors": _shard({"w": ("F16", [4, 4])})})
    r = run_cli(capsys, "inspect", "org/x")
    assert r.code == 1 and "org/x has no file 'model-00002-of-00002.safetensors'" in r.err
    assert "not found on" not in r.err


def test_rate_limits_are_waited_out(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/x", {"config.json": CONFIG, "model.safetensors": _shard(llama_tensors())})
    fake_hub.status_every, fake_hub.retry_after = (3, 429), "0"  # one request in three is rate-limited
    results = [run_cli(capsys, "inspect", "org/x", "--json") for _ in range(10)]
    assert [r.code for r in results] == [0] * 10


def test_retry_after_is_honoured(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/x", {"config.json": CONFIG})
    fake_hub.status_every, fake_hub.retry_after = (1, 429), "1"
    t0 = time.monotonic()
    r = run_cli(capsys, "inspect", "org/x")
    assert r.code == 1 and "rate-limiting" in r.err and "(429, 4 tries)" in r.err
    assert time.monotonic() - t0 >= 3 * 1.0  # three waits of Retry-After: 1


def test_a_retry_after_past_the_deadline_fails_at_once(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add("org/x", {"config.json": CONFIG})
    fake_hub.fail_status, fake_hub.retry_after = 429, "3600"
    t0 = time.monotonic()
    r = run_cli(capsys, "inspect", "org/x")
    assert r.code == 1 and "Retry-After is past the deadline" in r.err and time.monotonic() - t0 < 5
