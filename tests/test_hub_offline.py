"""Offline (HF_HUB_OFFLINE=1) from a cache that huggingface_hub itself filled, as `hf download … --include '*.json'`
does: models--org--name/{refs/main, snapshots/<commit>/…, blobs/} (issue 9 item 18)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import llama_tensors, safetensors_bytes
from tests.hub_server import FakeHub, RemoteFile
from tests.test_hub import CONFIG


def _download(hub: FakeHub, repo_id: str, *names: str) -> Path:
    """huggingface_hub's own download into the test's HF cache; returns the snapshot folder."""
    from huggingface_hub import hf_hub_download

    paths = [Path(hf_hub_download(repo_id, n, endpoint=hub.url, cache_dir=os.environ["HF_HUB_CACHE"]))
             for n in names]
    return paths[0].parent


def _sharded(hub: FakeHub, repo_id: str) -> None:
    tensors = llama_tensors(kv=32)
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[:10], "model-00002-of-00002.safetensors": names[10:]}
    files: dict[str, bytes | RemoteFile] = {"config.json": CONFIG, "generation_config.json": b"{}"}
    weight_map, total = {}, 0
    for shard, keys in halves.items():
        head, data_len = safetensors_bytes({k: tensors[k] for k in keys})
        files[shard] = RemoteFile(head, len(head) + data_len)
        weight_map |= dict.fromkeys(keys, shard)
        total += data_len
    files["model.safetensors.index.json"] = json.dumps({"metadata": {"total_size": total},
                                                        "weight_map": weight_map}).encode()
    hub.add(repo_id, files)


def test_offline_a_cached_config_and_index_are_enough(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", "off")  # the HF cache alone (tests/test_header_cache.py: ours)
    _sharded(fake_hub, "org/x")
    online = run_cli(capsys, "estimate", "org/x", "-d", "bf16", "--json").json()
    assert online["model"]["kind"] == "hub"
    snap = _download(fake_hub, "org/x", "config.json", "model.safetensors.index.json", "generation_config.json")
    cache = Path(os.environ["HF_HUB_CACHE"]) / "models--org--x"
    assert (cache / "refs" / "main").read_text() == snap.name and (snap / "config.json").is_symlink()
    assert any((cache / "blobs").iterdir())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_hub.rate_limited = True  # any request from here on would fail the command
    before = fake_hub.requests
    r = run_cli(capsys, "estimate", "org/x", "-d", "bf16", "--json")
    assert r.code == 0, r.err
    offline = r.json()
    assert fake_hub.requests == before
    assert offline["model"]["kind"] == "config" and offline["model"]["source"] == "org/x"
    assert offline["model"]["params"] == online["model"]["params"]
    row, row_online = offline["rows"][0], online["rows"][0]
    assert (row["weight_bytes"], row["total_bytes"]) == (row_online["weight_bytes"], row_online["total_bytes"])
    assert any("offline" in n and "config.json" in n for n in offline["notes"])
    inspect = run_cli(capsys, "inspect", "org/x", "--json")
    assert inspect.code == 0 and inspect.json()["params"] == online["model"]["params"]


def test_online_a_partial_cache_reads_the_hub(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    # one shard of two in the cache: online, the Hub has the rest (it was "shard … is missing")
    _sharded(fake_hub, "org/part")
    _download(fake_hub, "org/part", "config.json", "model.safetensors.index.json",
              "model-00001-of-00002.safetensors")
    r = run_cli(capsys, "inspect", "org/part", "--json")
    assert r.code == 0, r.err
    assert r.json()["kind"] == "hub" and len(r.json()["files"]) == 2


def test_offline_a_cached_pipeline_from_its_configs(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_diffusion import COMPONENTS, FLUX_CONFIGS

    files: dict[str, bytes | RemoteFile] = {
        "model_index.json": json.dumps({"_class_name": "FluxPipeline", **{k: ["d", "X"] for k in FLUX_CONFIGS}})
        .encode()}
    files |= {f"{k}/config.json": json.dumps(v).encode() for k, v in FLUX_CONFIGS.items()}
    fake_hub.add("org/flux", files)
    _download(fake_hub, "org/flux", *files)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = run_cli(capsys, "inspect", "org/flux", "--json")
    assert r.code == 0, r.err
    assert r.json()["params"] == sum(COMPONENTS.values())


def test_offline_without_a_config_still_says_so(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _sharded(fake_hub, "org/y")
    _download(fake_hub, "org/y", "generation_config.json")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = run_cli(capsys, "estimate", "org/y")
    assert r.code == 1 and "not in the local cache and HF_HUB_OFFLINE is set" in r.err


@pytest.mark.parametrize("shard", ["../other/model.safetensors", "/etc/passwd", "a\\..\\..\\b.safetensors"])
def test_index_names_stay_inside_the_repo(fake_hub: FakeHub, tmp_path: Path, shard: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    index = json.dumps({"weight_map": {"w": shard}}).encode()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_bytes(CONFIG)
    (tmp_path / "m" / "model.safetensors.index.json").write_bytes(index)
    (tmp_path / "m" / "x.safetensors").write_bytes(b"")  # weights beside it: the index is read
    r = run_cli(capsys, "inspect", str(tmp_path / "m"))
    assert r.code == 1 and "outside" in r.err
    fake_hub.add("org/evil", {"config.json": CONFIG, "model.safetensors.index.json": index})
    r = run_cli(capsys, "inspect", "org/evil")
    assert r.code == 1 and "names a shard outside the repo" in r.err
