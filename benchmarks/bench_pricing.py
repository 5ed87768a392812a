"""Pricing against reading: `vramcalc estimate CONFIG --json` (every default format priced tensor by tensor) against
`vramcalc inspect CONFIG --json` (the same inventory built and summed), as whole processes, round-robin.

The configs are DeepSeek-V3's (examples/configs/deepseek-v3: 61 layers, 256 experts, FP8 block scales, 90,427
tensors) and the same model with more layers, up to the config reader's bound (layers × experts ≤ 65,536: 256
layers, ~390k tensors). Past that bound only a checkpoint's headers can hold more tensors, so the second part prices
inventories of 90k to 1.08M tensors in process (DeepSeek-V3's block tensors repeated under new layer numbers,
as a checkpoint of that many layers would list them): the time per tensor at each size, against the smallest, shows
whether pricing stays linear (a cache that overflows at some size shows as a jump). Targets (issue 14):
DeepSeek-V3 estimate ≤ 1.0 s and ≤ 1.3× inspect at every size; linear to at least 1,000,000 tensors.

Run: `python benchmarks/bench_pricing.py [--runs 5] [--layers 61,128,256]`.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = shutil.which("vramcalc", path=str(Path(sys.executable).parent))
VRAMCALC = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "vramcalc"]


def tensors_of(config: Path) -> int:
    from vramcalc.readers.config_json import inventory_from_config, read_config_file

    return len(inventory_from_config(read_config_file(config), str(config)).tensors)


def in_process(repeats: tuple[int, ...], runs: int) -> None:
    """estimate_inventory and the inspect report on inventories of DeepSeek-V3's tensors × `repeats`."""
    from vramcalc.estimate_report import EstimateRequest, estimate_inventory
    from vramcalc.inspect_report import build_inspect_report
    from vramcalc.inventory import Inventory, TensorInfo
    from vramcalc.readers.config_json import inventory_from_config, read_config_file
    from vramcalc.registry import load_registry

    registry = load_registry()
    base = inventory_from_config(read_config_file(ROOT / "examples" / "configs" / "deepseek-v3" / "config.json"),
                                 "deepseek-v3")
    layers = int((base.config or {})["num_hidden_layers"])
    first = None
    print(f"\n{'tensors':>10} {'estimate':>10} {'inspect':>10} {'ratio':>6} {'µs/tensor':>10} {'vs first':>8}"
          "   (in process, after the inventory is built)")
    for k in repeats:
        tensors = [t if r == 0 else TensorInfo.trusted(_shift(t.name, r * layers), t.dtype, t.shape, t.nbytes)
                   for r in range(k) for t in base.tensors if r == 0 or ".layers." in t.name]
        est, ins = [], []
        for _ in range(runs):  # a fresh inventory each run: nothing cached from the last
            inv = Inventory(source="x", kind="safetensors", tensors=tensors, config=base.config)
            from vramcalc.readers.packed import detect_packed

            quant, true_params = detect_packed(inv, base.config)
            inv = inv.model_copy(update={"quantization": quant, "true_params": true_params})
            t0 = time.perf_counter()
            build_inspect_report(inv, registry=registry)
            t1 = time.perf_counter()
            estimate_inventory(inv, EstimateRequest(), registry)
            est.append(time.perf_counter() - t1)
            ins.append(t1 - t0)
        e, i = statistics.median(est), statistics.median(ins)
        per = e / len(tensors) * 1e6
        first = first or per
        print(f"{len(tensors):>10,} {e:>9.3f}s {i:>9.3f}s {e / i:>5.2f}× {per:>10.2f} {per / first:>7.2f}×")


def _shift(name: str, by: int) -> str:
    """The same block tensor `by` layers further down ("model.layers.3." → "model.layers.<3 + by>.")."""
    head, _, rest = name.partition("layers.")
    index, dot, tail = rest.partition(".")
    return f"{head}layers.{int(index) + by}{dot}{tail}"


def time_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layers", default="61,128,256", help="layer counts to price (61: DeepSeek-V3 itself)")
    parser.add_argument("--repeats", default="1,4,12", help="in process: DeepSeek-V3's tensors × these")
    args = parser.parse_args()
    import vramcalc

    compileall.compile_dir(str(Path(vramcalc.__file__).parent), quiet=1)  # as pip install leaves it
    base = json.loads((ROOT / "examples" / "configs" / "deepseek-v3" / "config.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for layers in (int(x) for x in args.layers.split(",")):
            path = Path(tmp) / f"deepseek-v3-{layers}" / "config.json"
            path.parent.mkdir()
            path.write_text(json.dumps({**base, "num_hidden_layers": layers}))
            cases.append((layers, tensors_of(path), path))
        samples: dict[tuple[int, str], list[float]] = {}
        for layers, _, path in cases:
            for command in ("estimate", "inspect"):
                cmd = [*VRAMCALC, command, str(path), "--json"]
                time_once(cmd)  # warm the file cache
                samples[(layers, command)] = []
        for _ in range(args.runs):
            for layers, _, path in cases:
                for command in ("estimate", "inspect"):
                    samples[(layers, command)].append(time_once([*VRAMCALC, command, str(path), "--json"]))
        first_per_tensor = None
        print(f"{'layers':>6} {'tensors':>9} {'estimate':>10} {'inspect':>10} {'ratio':>6} {'µs/tensor':>10} "
              f"{'vs first':>8}")
        for layers, n, _ in cases:
            est = statistics.median(samples[(layers, "estimate")])
            ins = statistics.median(samples[(layers, "inspect")])
            per = est / n * 1e6
            first_per_tensor = first_per_tensor or per
            print(f"{layers:>6} {n:>9,} {est:>9.3f}s {ins:>9.3f}s {est / ins:>5.2f}× {per:>10.2f} "
                  f"{per / first_per_tensor:>7.2f}×")
        est0 = statistics.median(samples[(cases[0][0], "estimate")])
        ratios = [statistics.median(samples[(c[0], "estimate")]) / statistics.median(samples[(c[0], "inspect")])
                  for c in cases]
        print(f"\nmedians of {args.runs}. DeepSeek-V3 ({cases[0][0]} layers) estimate ≤ 1.0 s: "
              f"{'met' if est0 <= 1.0 else 'NOT met'} ({est0:.3f} s); estimate ≤ 1.3× inspect at every size: "
              f"{'met' if max(ratios) <= 1.3 else 'NOT met'} (worst {max(ratios):.2f}×)")
    in_process(tuple(int(x) for x in args.repeats.split(",")), args.runs)


if __name__ == "__main__":
    main()
