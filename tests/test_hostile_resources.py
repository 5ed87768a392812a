"""Issue 13: hostile inputs run as a user runs them — the CLI in a subprocess — under an address-space limit
(RLIMIT_AS), each within the ceilings README's "Bounded by" states: at most TIME_S seconds and RSS_MB of resident
memory, one clean line on stderr (never a traceback), exit 0, 1 or 2."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures_files import llama_tensors, safetensors_bytes, write_gguf
from tests.hub_server import FakeHub, RemoteFile

resource = pytest.importorskip("resource")  # POSIX only
if not hasattr(os, "wait4"):
    pytest.skip("needs os.wait4 for the child's rusage", allow_module_level=True)

ADDRESS_SPACE = 2 << 30  # RLIMIT_AS for each run
RSS_MB = 512  # ceiling on each run's peak resident memory
TIME_S = 20.0  # ceiling on each run's wall time


# The child's peak RSS is read from its own /proc/self/status (VmHWM: this image only). wait4's ru_maxrss also
# counts the forked copy of the test process before exec — half a GiB late in a full run — so it is the fallback
# only where /proc is missing.
_RUN_AND_REPORT_PEAK = """
import sys
from vramcalc.cli.app import main
code = 0
try:
    main(sys.argv[2:])
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (1 if e.code else 0)
finally:
    try:
        with open("/proc/self/status") as status:
            peak = [line.split()[1] for line in status if line.startswith("VmHWM:")]
        with open(sys.argv[1], "w") as out:
            out.write(peak[0])
    except (OSError, IndexError):
        pass
sys.exit(code)
"""


def _limited(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, float, float]:
    """(exit code, stderr, seconds, peak RSS in MB) of `vramcalc ARGS` under RLIMIT_AS."""
    import tempfile

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    peak_file = Path(tempfile.mkdtemp()) / "peak_kb"
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", _RUN_AND_REPORT_PEAK, str(peak_file), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
                            preexec_fn=limit)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read(1 << 20)), daemon=True)  # type: ignore[union-attr]
    reader.start()  # read while it runs: a full pipe would block it
    deadline = t0 + TIME_S * 3
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            pytest.fail(f"vramcalc {' '.join(args)[:80]} still running after {TIME_S * 3:g} s")
        time.sleep(0.05)
    reader.join(5)
    err = b"".join(chunks).decode("utf-8", "replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    if peak_file.exists():
        rss_mb = int(peak_file.read_text()) / 1024
        peak_file.unlink()
    peak_file.parent.rmdir()
    return proc.returncode, err, time.monotonic() - t0, rss_mb


def _gguf(kv: list[tuple[str, int, bytes]]) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv))
    for key, vtype, value in kv:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<i", vtype) + value
    return out


def _sparse(path: Path, head: bytes, size: int) -> Path:
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def _many_tensors(path: Path, n: int) -> Path:
    parts, off = [], 0
    for i in range(n):
        parts.append(f'"l.{i // 8}.t{i % 8}":{{"dtype":"F16","shape":[4,4],"data_offsets":[{off},{off + 32}]}}')
        off += 32
    raw = ("{" + ",".join(parts) + "}").encode()
    return _sparse(path, struct.pack("<Q", len(raw)) + raw, 8 + len(raw) + off)


def _config(path: Path, **fields: object) -> Path:
    base = {"model_type": "llama", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 2}
    path.write_text(json.dumps({**base, **fields}))
    return path


# Each case: files it writes in a folder → the CLI's arguments.
CASES: dict[str, Callable[[Path], list[str]]] = {
    "gguf-3GiB-array": lambda d: ["inspect", str(_sparse(
        d / "m.gguf", h := _gguf([("junk", 9, struct.pack("<iQ", 0, 3 << 30))]), len(h) + (3 << 30)))],
    "gguf-2^27-strings": lambda d: ["inspect", str(_sparse(
        d / "m.gguf", h := _gguf([("tokens", 9, struct.pack("<iQ", 8, 1 << 27))]), len(h) + 8 * (1 << 27)))],
    "gguf-2^26-keys": lambda d: ["inspect", str(_sparse(
        d / "m.gguf", h := b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 26), len(h) + 12 * (1 << 26)))],
    "gguf-3GiB-string": lambda d: ["inspect", str(_sparse(
        d / "m.gguf", h := _gguf([("s", 8, struct.pack("<Q", 3 << 30))]), len(h) + (3 << 30)))],
    "gguf-truncated": lambda d: ["estimate", str(_sparse(
        d / "m.gguf", write_gguf(d / "ok.gguf").read_bytes()[:3000], 3000))],
    "safetensors-100k-tensors": lambda d: ["estimate", str(_many_tensors(d / "m.safetensors", 100_000)), "-d",
                                           "bf16"],
    "safetensors-header-100MB-claim": lambda d: ["inspect", str(_sparse(
        d / "m.safetensors", struct.pack("<Q", 99_999_999) + b"{", 100_000_008))],
    "safetensors-deep-json": lambda d: ["inspect", str(_sparse(
        d / "m.safetensors", struct.pack("<Q", 200_002) + b"[" * 100_001 + b"]" * 100_001, 200_010))],
    "config-deep-json": lambda d: ["estimate", str(_write(d / "config.json", "[" * 100_000 + "]" * 100_000))],
    "config-t5-1e12-decoder-layers": lambda d: ["estimate", str(_config(
        d / "config.json", model_type="t5", d_model=64, d_ff=128, d_kv=8, num_heads=8, num_layers=2,
        num_decoder_layers=10**12))],
    "config-65536-experts": lambda d: ["estimate", str(_config(
        d / "config.json", model_type="qwen2_moe", num_experts=65_536, num_hidden_layers=24,
        moe_intermediate_size=32))],
    "config-layers-times-experts": lambda d: ["estimate", str(_config(
        d / "config.json", model_type="mixtral", num_local_experts=20, num_hidden_layers=10_000))],
    "config-at-the-bound": lambda d: ["estimate", str(_config(  # 3,276 × 20 experts: ~200k tensors, one row
        d / "config.json", model_type="mixtral", num_local_experts=20, num_hidden_layers=3_276)), "-d", "bf16"],
    "flag-layers-1e7": lambda d: ["estimate", "7B", "--layers", "10000000", "--kv-heads", "8", "--head-dim", "128"],
    "flag-spaces": lambda d: ["estimate", "7B", "--gpu-memory", "1" + " " * 100_000 + "x"],
    "flag-context-huge": lambda d: ["estimate", "7B", "--context", "9" * 60],
    "formats-dev-zero": lambda d: ["formats", "--formats", "/dev/zero"],
    "formats-64MiB": lambda d: ["formats", "--formats", str(_sparse(d / "f.toml", b"", 64 << 20))],
    "label-product": lambda d: ["estimate", "999999x99999B"],
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_local_input_is_bounded(tmp_path: Path, case: str) -> None:
    if case == "formats-dev-zero" and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    code, err, seconds, rss = _limited(CASES[case](tmp_path))
    assert code in (0, 1, 2) and "Traceback" not in err and "internal error" not in err, (case, err[-500:])
    assert code == 0 or (err.startswith("Error: ") and err.count("\n") == 1), (case, err[-500:])
    assert seconds < TIME_S, (case, seconds)
    assert rss < RSS_MB, (case, rss)


HUB_FAULTS: dict[str, dict[str, object]] = {
    "empty-ranges": {"range_mode": "empty"},
    "short-ranges": {"range_mode": "short", "short_bytes": 100},
    "ignored-range-10GB": {"range_mode": "ignore", "endless": True},
    "huge-content-length": {"endless": True},
    "drip": {"drip": 0.3},
    "503": {"fail_status": 503, "retry_after": "0"},
    "429-retry-after": {"status_every": (3, 429), "retry_after": "1"},
}


@pytest.mark.parametrize("fault", list(HUB_FAULTS))
def test_hostile_hub_is_bounded(fake_hub: FakeHub, tmp_path: Path, fault: str) -> None:
    data = write_gguf(tmp_path / "m.gguf", n_tokens=120_000).read_bytes()
    head, data_len = safetensors_bytes(llama_tensors())
    fake_hub.add("org/g", {"m.gguf": data})
    fake_hub.add("org/s", {"config.json": b'{"model_type": "llama"}',
                           "model.safetensors": RemoteFile(head, len(head) + data_len)})
    for key, value in HUB_FAULTS[fault].items():
        setattr(fake_hub, key, value)
    env = {"HF_ENDPOINT": fake_hub.url, "VRAMCALC_TIMEOUT": "3", "HF_HUB_CACHE": str(tmp_path / "cache")}
    try:
        for repo in ("org/g", "org/s"):
            code, err, seconds, rss = _limited(["inspect", repo], env)
            assert code in (0, 1) and "Traceback" not in err and "internal error" not in err, (fault, repo, err)
            assert seconds < TIME_S and rss < RSS_MB, (fault, repo, seconds, rss)
    finally:
        fake_hub.drip, fake_hub.endless = 0.0, False
