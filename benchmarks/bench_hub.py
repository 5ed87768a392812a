"""A 30-shard repo on the local fake Hub with 50 ms injected latency per request: vramcalc's parallel header
reads vs fetching the shards' headers one after another with the same client.

Run: `python benchmarks/bench_hub.py [--runs 5]` (needs the test extras: pytest).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures_files import safetensors_bytes  # noqa: E402
from tests.hub_server import FakeHub, RemoteFile, _handler  # noqa: E402

SHARDS = 30


def build(hub: FakeHub) -> None:
    files: dict[str, bytes | RemoteFile] = {}
    weight_map = {}
    for i in range(SHARDS):
        name = f"model-{i + 1:05d}-of-{SHARDS:05d}.safetensors"
        tensors = {f"model.layers.{i}.mlp.{p}.weight": ("BF16", [28672, 8192]) for p in ("gate_proj", "up_proj")}
        head, data_len = safetensors_bytes(tensors)
        files[name] = RemoteFile(head, len(head) + data_len)
        weight_map |= dict.fromkeys(tensors, name)
    files["model.safetensors.index.json"] = json.dumps({"weight_map": weight_map}).encode()
    files["config.json"] = b"{}"
    hub.add("bench/big", files)


def sequential(repo_id: str) -> None:
    from vramcalc.readers import hub as hubmod

    h = hubmod._Hub(repo_id, None, None, None)
    info = h.api.model_info(repo_id, files_metadata=True)
    sizes = {s.rfilename: s.size for s in info.siblings or []}
    h._json("config.json")
    index = h._json("model.safetensors.index.json") or {}
    for name in sorted(set(index["weight_map"].values())):
        h._safetensors(name, sizes[name])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    hub = FakeHub(latency=args.latency)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ["HF_HUB_CACHE"] = "/nonexistent-vramcalc-bench-cache"
    build(hub)
    from vramcalc.readers.hub import read_repo

    results = {}
    for name, fn in (("vramcalc read_repo (parallel)", lambda: read_repo("bench/big")),
                     ("one shard after another", lambda: sequential("bench/big"))):
        fn()
        samples = []
        for _ in range(args.runs):
            hub.bytes_sent = hub.requests = 0
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        results[name] = statistics.median(samples)
        print(f"{name:<32} median {results[name] * 1000:8.1f} ms over {args.runs} runs; "
              f"{hub.requests} requests, {hub.bytes_sent / 1e6:.2f} MB transferred per run")
    ratio = results["one shard after another"] / results["vramcalc read_repo (parallel)"]
    print(f"{SHARDS} shards, {args.latency * 1000:.0f} ms latency per request: speed-up {ratio:.1f}x")
    server.shutdown()


if __name__ == "__main__":
    main()
