"""The header cache (readers/header_cache.py): a second run of a Hub repo, online or HF_HUB_OFFLINE=1, makes no
request and answers the same; nothing is written into the Hugging Face cache; a stale branch is listed again; a
damaged or hostile cache is ignored, never followed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.hub_server import FakeHub
from tests.test_hub_offline import _sharded


def _cache(repo: str = "org/x") -> Path:
    return Path(os.environ["VRAMCALC_CACHE_DIR"]) / "hub" / f"models--{repo.replace('/', '--')}"


def _first_run(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    _sharded(fake_hub, "org/x")
    r = run_cli(capsys, "inspect", "org/x", "--json")
    assert r.code == 0, r.err
    data: dict[str, object] = r.json()
    return data


def test_a_second_run_needs_no_network(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    first = _first_run(fake_hub, capsys)
    assert first["kind"] == "hub"
    folder = _cache()
    assert (folder / "refs" / "main").read_text() == "0123456789abcdef0123456789abcdef01234567"
    assert len(list((folder / "headers").iterdir())) == 2  # one per shard, exactly its header
    assert not Path(os.environ["HF_HUB_CACHE"]).exists() or not any(Path(os.environ["HF_HUB_CACHE"]).iterdir())
    fake_hub.rate_limited = True  # any request from here on would fail the command
    before = fake_hub.requests
    again = run_cli(capsys, "inspect", "org/x", "--json")
    assert again.code == 0, again.err
    assert again.json() == first and fake_hub.requests == before
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = run_cli(capsys, "estimate", "org/x", "-d", "bf16", "--json")
    assert offline.code == 0 and offline.json()["model"]["params"] == first["params"]
    assert fake_hub.requests == before


def test_a_stale_branch_is_listed_again_online_only(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from vramcalc.readers.header_cache import REF_TTL

    _first_run(fake_hub, capsys)
    ref = _cache() / "refs" / "main"
    old = time.time() - REF_TTL - 60
    os.utime(ref, (old, old))
    before = fake_hub.requests
    assert run_cli(capsys, "inspect", "org/x", "--json").code == 0 and fake_hub.requests > before
    os.utime(ref, (old, old))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = fake_hub.requests
    assert run_cli(capsys, "inspect", "org/x", "--json").json()["kind"] == "hub" and fake_hub.requests == before


@pytest.mark.parametrize("damage", ["truncated header", "garbage manifest", "hostile names", "a FIFO"])
def test_a_damaged_cache_is_ignored(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    damage: str) -> None:
    first = _first_run(fake_hub, capsys)
    folder = _cache()
    manifest = next(folder.glob("*.json"))
    if damage == "truncated header":
        blob = next((folder / "headers").iterdir())
        blob.write_bytes(blob.read_bytes()[:20])
    elif damage == "a FIFO":  # put where a header was: opened without blocking, refused, never waited on
        blob = next((folder / "headers").iterdir())
        blob.unlink()
        os.mkfifo(blob)
    elif damage == "garbage manifest":
        manifest.write_bytes(b"\xff{not json")
    else:  # names that climb out of the repo and blob ids that are paths: dropped, never opened
        (tmp_path / "secret").write_bytes(b"x" * 64)
        data = json.loads(manifest.read_text())
        data["files"] = {"../../../secret": [64, "../../../secret"], **{
            n: [s, f"../../{tmp_path.name}/secret"] for n, (s, _) in data["files"].items()}}
        manifest.write_text(json.dumps(data))
    before = fake_hub.requests
    r = run_cli(capsys, "inspect", "org/x", "--json")
    assert r.code == 0, r.err
    assert r.json() == first and fake_hub.requests > before  # asked the Hub, as with no cache


def test_off_writes_nothing(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(os.environ["VRAMCALC_CACHE_DIR"])
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", "off")
    _first_run(fake_hub, capsys)
    before = fake_hub.requests
    assert run_cli(capsys, "inspect", "org/x", "--json").code == 0 and fake_hub.requests > before
    assert not (root / "hub").exists()


def test_gguf_repos_are_kept_too(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # several quants (one split in two parts), and one whose header is larger than the first 1 MiB range, so its
    # read took windows: each replays from the cache, by its quant tag or as the table of every quant
    from tests.fixtures_files import write_gguf
    from tests.test_hub import _gguf_part

    big = write_gguf(tmp_path / "big.gguf", n_tokens=120_000).read_bytes()
    fake_hub.add("org/q", {"M-Q4_K_M.gguf": big,
                           "M-Q8_0-00001-of-00002.gguf": _gguf_part(tmp_path / "p1.gguf", "blk.0.attn_q.weight"),
                           "M-Q8_0-00002-of-00002.gguf": _gguf_part(tmp_path / "p2.gguf", "blk.0.attn_k.weight")})
    first = {args: run_cli(capsys, *args, "--json") for args in (("inspect", "org/q:Q4_K_M"),
                                                                 ("inspect", "org/q:Q8_0"), ("estimate", "org/q"))}
    assert all(r.code == 0 for r in first.values()), [r.err for r in first.values()]
    fake_hub.rate_limited = True
    before = fake_hub.requests
    for args, r in first.items():
        again = run_cli(capsys, *args, "--json")
        assert again.code == 0, again.err
        assert again.json() == r.json()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run_cli(capsys, "inspect", "org/q:Q4_K_M", "--json").json() == first[("inspect", "org/q:Q4_K_M")].json()
    assert fake_hub.requests == before


@pytest.mark.parametrize("command", ["inspect", "estimate", "compare", "fit", "train"])
def test_refresh_reads_the_hub_again_and_keeps_it(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                                  command: str) -> None:
    from tests.fixtures_files import llama_tensors, safetensors_bytes
    from tests.hub_server import RemoteFile
    from tests.test_hub import CONFIG

    def publish(kv: int) -> None:  # the same repo, its K/V projections resized: a new commit on main
        head, data_len = safetensors_bytes(llama_tensors(kv=kv))
        fake_hub.add("org/r", {"config.json": CONFIG, "model.safetensors": RemoteFile(head, len(head) + data_len)})

    def params(*extra: str) -> int:
        args = {"inspect": ["inspect", "org/r"], "estimate": ["estimate", "org/r", "-d", "bf16"],
                "compare": ["compare", "org/r", "7B"], "fit": ["fit", "org/r", "--gpu-memory", "24GiB"],
                "train": ["train", "org/r", "--method", "lora"]}[command]
        r = run_cli(capsys, *args, *extra, "--json")
        assert r.code == 0, r.err
        data = r.json()
        model = data if command == "inspect" else data["entries"][0] if command == "compare" else data["model"]
        return int(model["params"])

    publish(kv=32)
    first = params()
    publish(kv=64)
    assert params() == first  # the cached answer, no request
    assert params("--refresh") > first  # read again…
    fake_hub.rate_limited = True
    assert params() > first  # …and kept for the next run
