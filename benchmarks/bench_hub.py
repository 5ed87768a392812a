"""Hub repos on the local fake Hub (tests/hub_server.py) with injected latency per request, read as whole processes:
`vramcalc inspect REPO --json` against huggingface_hub's own `get_safetensors_metadata(REPO)` (the reference
client's header reader), round-robin so a noisy neighbour slows both alike.

The repos hold real tensor names and shapes (vramcalc's own builder run on the configs in examples/configs), split
into shards as the published repos are: Llama-3.1-8B in 4 shards, Llama-3.1-70B-shaped in 30, DeepSeek-V3 in 163.
Every answer goes through a redirect to the "CDN" for the large files, as on the Hub. The server accepts a backlog
of 128 connections, as a real front end does (`--backlog 5` shows a small proxy's).

Run: `python benchmarks/bench_hub.py [--runs 7] [--latency 0.05]` (needs the test extras: pytest).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.fixtures_files import safetensors_bytes  # noqa: E402
from tests.hub_server import FakeHub, RemoteFile, _handler, _Server  # noqa: E402

REPOS = {  # repo id: (config in examples/configs, overrides, shards)
    "bench/llama-3.1-8b": ("llama-3.1-8b", {}, 4),
    "bench/llama-3.1-70b": ("llama-3.1-8b", {"hidden_size": 8192, "intermediate_size": 28672,
                                             "num_hidden_layers": 80, "num_attention_heads": 64}, 30),
    "bench/deepseek-v3": ("deepseek-v3", {}, 163),
}
BASELINE = "import sys; from huggingface_hub import get_safetensors_metadata as g; g(sys.argv[1])"


def build(hub: FakeHub, repo_id: str, config_name: str, overrides: dict[str, int], shards: int) -> int:
    from vramcalc.readers.config_json import inventory_from_config, read_config_file

    config = read_config_file(ROOT / "examples" / "configs" / config_name / "config.json") | overrides
    tensors = inventory_from_config(config, repo_id).tensors
    per = -(-len(tensors) // shards)
    files: dict[str, bytes | RemoteFile] = {}
    weight_map = {}
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {t.name: (t.dtype if t.dtype in ("BF16", "F32", "F8_E4M3") else "BF16", list(t.shape))
                for t in tensors[i * per:(i + 1) * per]}
        head, data_len = safetensors_bytes(part)
        files[name] = RemoteFile(head, len(head) + data_len)
        weight_map |= dict.fromkeys(part, name)
    files["model.safetensors.index.json"] = json.dumps({"metadata": {}, "weight_map": weight_map}).encode()
    files["config.json"] = json.dumps(config).encode()
    hub.add(repo_id, files)
    return len(tensors)


def _median(cmd: list[str], env: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--backlog", type=int, default=128)
    parser.add_argument("--repo", action="append", choices=sorted(REPOS), help="only these (repeatable)")
    args = parser.parse_args()
    import compileall

    import vramcalc

    # as `pip install` does: under PYTHONDONTWRITEBYTECODE an editable install would recompile edited modules per run
    compileall.compile_dir(str(Path(vramcalc.__file__).parent), quiet=1)
    hub = FakeHub(latency=args.latency)
    _Server.request_queue_size = args.backlog
    server = _Server(("127.0.0.1", 0), _handler(hub))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    hub.cdn_url = f"http://localhost:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as cache:
        cold = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": cache, "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", "VRAMCALC_CACHE_DIR": "off"}
        cold.pop("HF_TOKEN", None)
        # the second run of a repo: vramcalc's header cache (the registry's cache lives there too)
        warm = {**cold, "VRAMCALC_CACHE_DIR": os.path.join(cache, "vramcalc")}
        print(f"{args.latency * 1000:.0f} ms per request, server backlog {args.backlog}; medians of {args.runs} "
              "whole-process runs")
        floor = _median([sys.executable, "-c", "pass"], cold, args.runs)
        count = _median(["vramcalc", "estimate", "12B", "--json"], cold, args.runs)
        print(f"floor: python -c pass {floor * 1000:.0f} ms; vramcalc estimate 12B --json (no network) "
              f"{count * 1000:.0f} ms")
        for repo_id in args.repo or REPOS:
            n = build(hub, repo_id, *REPOS[repo_id])
            cases = {"vramcalc inspect": (["vramcalc", "inspect", repo_id, "--json"], cold),
                     "get_safetensors_metadata": ([sys.executable, "-c", BASELINE, repo_id], cold),
                     "vramcalc estimate": (["vramcalc", "estimate", repo_id, "--json"], cold),
                     "vramcalc inspect, 2nd run": (["vramcalc", "inspect", repo_id, "--json"], warm)}
            times: dict[str, list[float]] = {k: [] for k in cases}
            traffic: dict[str, tuple[int, int]] = {}
            for run in range(args.runs + 1):  # the first round warms the page cache (and the header cache)
                for name, (cmd, env) in cases.items():
                    hub.requests = hub.bytes_sent = 0
                    t0 = time.perf_counter()
                    done = subprocess.run(cmd, env=env, capture_output=True)
                    took = time.perf_counter() - t0
                    if done.returncode:
                        raise SystemExit(f"{name} failed: {done.stderr.decode()[-500:]}")
                    if run:
                        times[name].append(took)
                    traffic[name] = (hub.requests, hub.bytes_sent)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"{repo_id} ({REPOS[repo_id][2]} shards, {n:,} tensors)")
            for name in cases:
                req, sent = traffic[name]
                print(f"  {name:<26} {med[name] * 1000:7.0f} ms  {req:4d} requests  {sent / 1e6:7.3f} MB")
            print(f"  get_safetensors_metadata / vramcalc inspect: "
                  f"{med['get_safetensors_metadata'] / med['vramcalc inspect']:.2f}x; estimate / inspect: "
                  f"{med['vramcalc estimate'] / med['vramcalc inspect']:.2f}x")
    server.shutdown()


if __name__ == "__main__":
    main()
