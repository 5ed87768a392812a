"""Header inspection of 160 sparse safetensors shards (~1 TB apparent): vramcalc vs a safetensors.safe_open loop.

Prints the median wall time of each over several runs, the ratio, and each one's peak RSS (in a fresh
subprocess). Needs numpy for the safe_open baseline (`pip install numpy`). Run:
`python benchmarks/bench_inspect_local.py [--runs 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures_files import write_safetensors  # noqa: E402

SHARDS = 160
# Each snippet prints the in-process time of the reading itself (after imports) on stdout's last line.
VRAMCALC = """import time, sys
from pathlib import Path
from vramcalc.readers import read_local
t = time.perf_counter()
inv = read_local(Path(sys.argv[1]))
print(time.perf_counter() - t)"""
SAFE_OPEN = """import time, sys
from pathlib import Path
import numpy
from safetensors import safe_open
t = time.perf_counter()
n = 0
for p in sorted(Path(sys.argv[1]).glob('*.safetensors')):
    with safe_open(str(p), framework='numpy') as f:
        for k in f.keys():
            f.get_slice(k).get_shape()
            n += 1
print(time.perf_counter() - t)"""


def make_repo(root: Path) -> int:
    """160 shards of a 1T-parameter-class model: 12 large bf16 matrices each, ~6.4 GB apparent per shard."""
    total = 0
    for s in range(SHARDS):
        tensors = {}
        for i in range(24):
            tensors[f"model.layers.{s}.mlp.experts.{i}.down_proj.weight"] = ("BF16", [7168, 18432])
            tensors[f"model.layers.{s}.mlp.experts.{i}.down_proj.bias"] = ("BF16", [7168])
        path = write_safetensors(root / f"model-{s + 1:05d}-of-{SHARDS:05d}.safetensors", tensors)
        total += path.stat().st_size
    return total


def timed(code: str, folder: Path) -> tuple[float, float, int]:
    """(whole-process wall time, in-process read time, peak RSS in KiB)."""
    cmd = [sys.executable, "-c", "import resource\n" + code +
           "\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)", str(folder)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    return wall, float(proc.stdout.strip().splitlines()[-1]), int(proc.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        apparent = make_repo(folder)
        print(f"{SHARDS} shards, {apparent / 1e12:.2f} TB apparent (sparse files)")
        walls, reads = {}, {}
        for name, code in (("vramcalc read_local", VRAMCALC), ("safetensors.safe_open loop", SAFE_OPEN)):
            timed(code, folder)  # warm the page cache
            samples = [timed(code, folder) for _ in range(args.runs)]
            walls[name] = statistics.median(s[0] for s in samples)
            reads[name] = statistics.median(s[1] for s in samples)
            rss = max(s[2] for s in samples)
            print(f"{name:<28} reading: median {reads[name] * 1000:7.1f} ms; whole process (imports included): "
                  f"median {walls[name] * 1000:7.1f} ms; peak RSS {rss / 1024:.1f} MiB  (n={args.runs})")
        ours, base = "vramcalc read_local", "safetensors.safe_open loop"
        print(f"ratio safe_open / vramcalc: reading {reads[base] / reads[ours]:.2f}x, "
              f"whole process {walls[base] / walls[ours]:.2f}x")


if __name__ == "__main__":
    main()
