"""A repo or folder of several GGUF quants, none named: a table of every quant as stored (issue 9 item 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import write_gguf
from tests.hub_server import FakeHub, RemoteFile
from tests.test_hub import _gguf_part

GB = 1_000_000_000


def _files(tmp_path: Path) -> dict[str, bytes]:
    return {
        "Model-Q4_K_M.gguf": write_gguf(tmp_path / "a.gguf").read_bytes(),
        "Model-Q8_0-00001-of-00002.gguf": _gguf_part(tmp_path / "p1.gguf", "blk.0.attn_q.weight"),
        "Model-Q8_0-00002-of-00002.gguf": _gguf_part(tmp_path / "p2.gguf", "blk.0.attn_k.weight"),
        "Model-IQ2_XS.gguf": _gguf_part(tmp_path / "iq.gguf", "blk.0.attn_q.weight"),
        "mmproj-Model-f16.gguf": _gguf_part(tmp_path / "mm.gguf", "v.blk.0.attn_q.weight"),
    }


# declared sizes (bytes past the header are zeros made on demand): only the headers may travel
SIZES = {"Model-Q4_K_M.gguf": 5 * GB, "Model-Q8_0-00001-of-00002.gguf": 4 * GB,
         "Model-Q8_0-00002-of-00002.gguf": 4 * GB + 123, "Model-IQ2_XS.gguf": 3 * GB, "mmproj-Model-f16.gguf": GB}


def _hub_repo(hub: FakeHub, tmp_path: Path) -> None:
    hub.add("org/many", {n: RemoteFile(b, SIZES[n]) for n, b in _files(tmp_path).items()})


def test_a_repo_of_quants_is_a_table_of_them(fake_hub: FakeHub, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _hub_repo(fake_hub, tmp_path)
    fake_hub.latency = 0.05
    r = run_cli(capsys, "estimate", "org/many", "--context", "2048", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert fake_hub.bytes_sent < 8 << 20 and fake_hub.max_in_flight > 1  # headers only, fetched concurrently
    rows = data["rows"]
    assert [row["format"] for row in rows] == ["IQ2_XS", "Q4_K_M", "Q8_0"]  # by file size; the mmproj left out
    assert [row["file_bytes"] for row in rows] == [3 * GB, 5 * GB, 8 * GB + 123]
    assert data["model"]["source"] == "org/many" and data["engine"] == "llama.cpp" and data["context"] == 2048
    assert "org/many holds 3 GGUF quants" in data["notes"][0] and "org/many:Q4_K_M" in data["notes"][0]
    # each row is what naming that quant gives for its as-stored row
    for row in rows:
        one = run_cli(capsys, "estimate", f"org/many:{row['format']}", "--context", "2048", "--json").json()
        (stored,) = [x for x in one["rows"] if x["format"] == "as stored"]
        assert (row["bits_per_weight"], row["weight_bytes"], row["total_bytes"], row["kv_cache_bytes"]) == (
            stored["bits_per_weight"], stored["weight_bytes"], stored["total_bytes"], stored["kv_cache_bytes"])
        assert row["file_bytes"] == stored["file_bytes"]
    text = run_cli(capsys, "estimate", "org/many")
    assert text.code == 0 and all(t in text.out for t in ("IQ2_XS", "Q4_K_M", "Q8_0"))


def test_naming_one_quant_still_works_and_dtype_picks_rows(fake_hub: FakeHub, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _hub_repo(fake_hub, tmp_path)
    one = run_cli(capsys, "estimate", "org/many:Q8_0", "--json").json()
    assert one["rows"][0]["format"] == "as stored" and one["rows"][0]["file_bytes"] == 8 * GB + 123
    picked = run_cli(capsys, "estimate", "org/many", "-d", "q8_0", "-d", "IQ2_XS", "--json").json()
    assert [row["format"] for row in picked["rows"]] == ["IQ2_XS", "Q8_0"]
    assert "(2 shown)" in picked["notes"][0]
    bad = run_cli(capsys, "estimate", "org/many", "-d", "Q2_K")
    assert bad.code == 2 and bad.err.startswith("Error: org/many holds no Q2_K quant (it holds IQ2_XS, Q4_K_M, "
                                                "Q8_0) — pick among those, or re-price one quant: vramcalc estimate "
                                                "org/many:IQ2_XS -d Q2_K")


def test_which_quant_fits_a_gpu(fake_hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _hub_repo(fake_hub, tmp_path)
    data = run_cli(capsys, "estimate", "org/many", "--gpu-memory", "24GB", "--json").json()
    assert all(row["gpus"] == 1 for row in data["rows"])
    fit = [n for n in data["notes"] if "fits one" in n]
    assert len(fit) == 1 and fit[0].startswith("the most precise quant that fits one 24.00 GB GPU")
    assert not any(n.startswith("no format here fits") for n in data["notes"])


def test_inspect_and_compare_ask_for_one_quant(fake_hub: FakeHub, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _hub_repo(fake_hub, tmp_path)
    for args in (("inspect", "org/many"), ("compare", "org/many", "7B")):
        before = fake_hub.bytes_sent
        r = run_cli(capsys, *args)
        assert r.code == 1 and r.err.startswith("Error: org/many holds 3 GGUF files")
        assert "— name one by its quant, e.g. org/many:Q4_K_M" in r.err
        assert fake_hub.bytes_sent - before < 10_000  # the listing only: no header was read to refuse
    assert run_cli(capsys, "compare", "org/many:Q4_K_M", "org/many:Q8_0").code == 0


def test_a_folder_of_quants(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    for name, data in _files(tmp_path).items():
        (folder / name).write_bytes(data)
    r = run_cli(capsys, "estimate", str(folder), "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert sorted(row["format"] for row in data["rows"]) == ["IQ2_XS", "Q4_K_M", "Q8_0"]
    q8 = next(row for row in data["rows"] if row["format"] == "Q8_0")
    assert q8["file_bytes"] == sum((folder / n).stat().st_size for n in _files(tmp_path) if "Q8_0" in n)
    assert str(folder / "Model-Q4_K_M.gguf") in data["notes"][0]  # a folder's quant is picked by its path
    inspect = run_cli(capsys, "inspect", str(folder))
    assert inspect.code == 1 and "holds several GGUF files" in inspect.err


def test_a_cached_repo_of_quants(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_hub import _snapshot

    snap = _snapshot(tmp_path, monkeypatch, "org/cachedq")
    for name, data in _files(tmp_path).items():
        (snap / name).write_bytes(data)
    r = run_cli(capsys, "estimate", "org/cachedq", "--json")
    assert r.code == 0, r.err
    assert sorted(row["format"] for row in r.json()["rows"]) == ["IQ2_XS", "Q4_K_M", "Q8_0"]
    assert fake_hub.requests == 0 and "org/cachedq:Q4_K_M" in r.json()["notes"][0]
    assert run_cli(capsys, "estimate", "org/cachedq:IQ2_XS", "--json").json()["rows"][0]["format"] == "as stored"


def test_quant_tags() -> None:
    from vramcalc.readers.gguf import model_ggufs, quant_tag, quant_tags

    names = {"Qwen3-8B-Q4_K_M.gguf": "Q4_K_M", "model.IQ4_XS.gguf": "IQ4_XS", "gemma-3-27b-it-BF16.gguf": "BF16",
             "x-UD-Q4_K_XL.gguf": "UD-Q4_K_XL", "M-Q8_0-00001-of-00002.gguf": "Q8_0",
             "qwen2.5-7b-instruct-q4_k_m.gguf": "Q4_K_M", "BF16/Qwen3-BF16-00001-of-00010.gguf": "BF16",
             "Qwen3-30B-A3B-Q3_K_S.gguf": "Q3_K_S", "gpt-oss-20b-MXFP4.gguf": "MXFP4", "tinyllama.gguf": "tinyllama"}
    assert {n: quant_tag(n) for n in names} == names
    groups = model_ggufs(["a/M-Q4_K_M.gguf", "b/M-Q4_K_M.gguf", "M-Q8_0.gguf"])
    assert quant_tags(groups) == {"a/M-Q4_K_M.gguf": "a/M-Q4_K_M", "b/M-Q4_K_M.gguf": "b/M-Q4_K_M",
                                  "M-Q8_0.gguf": "Q8_0"}


def test_a_quant_is_picked_by_its_exact_tag_first(fake_hub: FakeHub, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # "F16" is a piece of "BF16": the exact tag wins (it was "2 files match 'F16'")
    part = _gguf_part(tmp_path / "f.gguf", "blk.0.attn_q.weight")
    fake_hub.add("org/f", {"M-BF16.gguf": part, "M-F16.gguf": RemoteFile(part, len(part) + 1)})
    data = run_cli(capsys, "inspect", "org/f:F16", "--json").json()
    assert data["files"][0]["path"] == "M-F16.gguf"
