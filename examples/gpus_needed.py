"""How many 80 GB GPUs does a 70B model need, per format? Reads `vramcalc estimate --json` from a pipe.

    vramcalc estimate 70B --json | python examples/gpus_needed.py --gpu 80GB
"""

from __future__ import annotations

import argparse
import json
import math
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", default="80GB", help="memory per GPU, e.g. 80GB, 24GB, 48GiB")
    args = parser.parse_args()
    units = {"GIB": 2**30, "GB": 10**9}
    text = args.gpu.strip().upper()
    unit = next(u for u in units if text.endswith(u))
    gpu_bytes = float(text[: -len(unit)]) * units[unit]

    report = json.load(sys.stdin)
    print(f"{report['model']['source']} on {args.gpu} GPUs (weights + named overhead per GPU, no KV cache):")
    for row in report["rows"]:
        # Each GPU holds its share of the weights plus its own runtime overhead.
        per_gpu_free = gpu_bytes - row["overhead_bytes"]
        n = math.ceil(row["weight_bytes"] / per_gpu_free)
        print(f"  {row['format']:<10} {row['weight_bytes'] / 1e9:8.1f} GB of weights -> {n} GPU(s)")


if __name__ == "__main__":
    main()
