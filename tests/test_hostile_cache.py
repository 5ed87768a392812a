"""Issue 13 items 3, 11, 14, 15: the on-disk caches hold data, never code, and a formats file is only ever a small
regular file — whoever wrote what lies under those predictable names."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vramcalc import registry as registry_mod
from vramcalc.errors import RegistryError
from vramcalc.registry import load_registry, shipped_formats_path


class _Evil:
    """Unpickling this creates the marker file: proof that a cache file was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Evil(marker))


def test_a_planted_registry_cache_runs_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", str(tmp_path / "cache"))
    raw = shipped_formats_path().read_bytes()
    path = registry_mod._cache_path(raw)
    assert path is not None
    path.parent.mkdir(parents=True)
    marker = tmp_path / "pwned"
    path.write_bytes(_evil_pickle(marker))
    registry = load_registry()
    assert not marker.exists()
    assert registry.get("Q4_K_M").name == "Q4_K_M"
    assert path.read_bytes().startswith(b"{")  # rebuilt as JSON


def test_the_registry_cache_round_trips_exactly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", str(tmp_path))
    path = shipped_formats_path()
    raw = path.read_bytes()
    fresh = registry_mod._parse_file(path, raw)
    registry_mod._cache_store(raw, fresh)
    cached = registry_mod._cache_load(raw)
    assert cached is not None and cached.model_dump() == fresh.model_dump()
    spec = next(s for s in cached.format if s.stored_as)
    assert all(isinstance(k, int) for k in spec.stored_as)  # JSON keys are strings: kept as ints
    assert [s.bits_per_weight for s in cached.format if s.payload_bits] == [
        s.bits_per_weight for s in fresh.format if s.payload_bits]


@pytest.mark.parametrize("content", [b'{"cache": 1, "format": [{"name": 1}]}', b"[]", b"\x80\x04junk", b"{" * 100_000,
                                     b'{"cache": 1, "format": [], "default_rows": [3]}'])
def test_a_damaged_registry_cache_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes) -> None:
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", str(tmp_path))
    raw = shipped_formats_path().read_bytes()
    path = registry_mod._cache_path(raw)
    assert path is not None
    path.write_bytes(content)
    assert len(load_registry()) > 50


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_in_place_of_the_caches_does_not_hang(tmp_path: Path) -> None:
    import subprocess

    raw = shipped_formats_path().read_bytes()
    env = {**os.environ, "VRAMCALC_CACHE_DIR": str(tmp_path)}
    code = ("import os\nfrom vramcalc import registry as r\nos.mkfifo(r._cache_path(open(r.shipped_formats_path(), "
            "'rb').read()))\nfrom vramcalc.calculator import representative as rep\nos.mkfifo(rep._cache_path())\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=30)
    assert len(list(tmp_path.iterdir())) == 2 and raw
    proc = subprocess.run([sys.executable, "-m", "vramcalc", "estimate", "13B-Q4_K_M", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_planted_rules_cache_runs_nothing(tmp_path: Path) -> None:
    import subprocess

    marker = tmp_path / "pwned"
    env = {**os.environ, "VRAMCALC_CACHE_DIR": str(tmp_path)}
    code = ("import sys\nfrom vramcalc.calculator import representative as rep\n"
            "p = rep._cache_path(); p.parent.mkdir(parents=True, exist_ok=True)\n"
            "p.write_bytes(bytes.fromhex(sys.argv[1]))\n")
    subprocess.run([sys.executable, "-c", code, _evil_pickle(marker).hex()], check=True, env=env, timeout=30)
    proc = subprocess.run([sys.executable, "-m", "vramcalc", "estimate", "13B-Q4_K_M", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()


def test_tampered_rule_walks_are_walked_again(tmp_path: Path) -> None:
    import subprocess

    env = {**os.environ, "VRAMCALC_CACHE_DIR": str(tmp_path)}
    run = [sys.executable, "-m", "vramcalc", "estimate", "13B-Q4_K_M", "--json"]
    good = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    (path,) = tmp_path.glob("llamacpp-rules-*.json")
    text = path.read_text()
    path.write_text(text.replace('"Q6_K"', '"NOT_A_TYPE"').replace('"Q4_K",', '"Q4_K","x",'))
    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout == good.stdout


# --------------------------------------------------------------------------- formats files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_formats_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "f.toml"
    os.mkfifo(fifo)
    r = run_cli(capsys, "formats", "--formats", str(fifo))
    assert r.code == 1 and r.err == f"Error: formats file {fifo} is not a regular file — give a .toml file\n"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_formats_from_dev_zero_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VRAMCALC_FORMATS", "/dev/zero")
    r = run_cli(capsys, "estimate", "7B")
    assert r.code == 1 and r.err.startswith("Error: formats file /dev/zero is not a regular file")


def test_a_huge_formats_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as f:
        f.truncate(64 << 20)
    with pytest.raises(RegistryError, match="more than a formats file holds"):
        load_registry([big])


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_a_name_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    entry = '[[format]]\nname = "myq"\nfamily = "int"\npayload_bits = {}\n'
    with pytest.raises(RegistryError, match="format 'myq' is defined twice"):
        load_registry([_toml(tmp_path, entry.format(4) + entry.format(5))])


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_toml_nested_deep_is_an_error(tmp_path: Path, depth: int) -> None:
    with pytest.raises(RegistryError, match="nests tables or arrays too deeply|not valid TOML"):
        load_registry([_toml(tmp_path, "x = " + "[" * depth + "]" * depth + "\n")])


@pytest.mark.parametrize(("overhead", "field"), [
    ('{ name = "s", bits = 99999999999999999999, per = "block" }', "overhead.0.bits"),
    ('{ name = "s", bits = 16, per = "blocks", every = 9999999999 }', "overhead.0.every"),
])
def test_overhead_is_bounded_like_the_payload(tmp_path: Path, overhead: str, field: str) -> None:
    text = f'[[format]]\nname = "myq"\nfamily = "int"\npayload_bits = 4\nblock_size = 32\noverhead = [{overhead}]\n'
    with pytest.raises(RegistryError, match=f"field '{field}'"):
        load_registry([_toml(tmp_path, text)])
