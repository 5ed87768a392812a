"""Start-up time of `vramcalc estimate 12B --json` as a whole process, against `python -c pass`.

Target: under 150 ms median on the team's machine. Also checks that the start-up path imports neither
huggingface_hub nor safetensors. Run: `python benchmarks/bench_startup.py [--runs 21]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import typer, rich, pydantic": [sys.executable, "-c", "import typer, rich.console, pydantic"],
    "vramcalc --help": [sys.executable, "-m", "vramcalc", "--help"],
    "vramcalc estimate 12B --json": [sys.executable, "-m", "vramcalc", "estimate", "12B", "--json"],
    "vramcalc estimate 12B (table)": [sys.executable, "-m", "vramcalc", "estimate", "12B"],
}
FORBIDDEN = ("huggingface_hub", "safetensors", "numpy")


def time_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def heavy_imports(cmd: list[str]) -> list[str]:
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, check=True)
    mods = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    return sorted(m for m in mods if m.split(".")[0] in FORBIDDEN)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    medians = {}
    for name, cmd in CASES.items():
        time_once(cmd)  # warm the file cache
        samples = [time_once(cmd) for _ in range(args.runs)]
        medians[name] = statistics.median(samples)
        print(f"{name:<32} median {medians[name] * 1000:7.1f} ms   (min {min(samples) * 1000:6.1f}, "
              f"max {max(samples) * 1000:6.1f}, n={args.runs})")
    base = medians["python -c pass"]
    main_case = medians["vramcalc estimate 12B --json"]
    print(f"\nratio estimate/python-pass: {main_case / base:.1f}x; "
          f"over the typer+rich+pydantic floor: {(main_case - medians['import typer, rich, pydantic']) * 1000:+.1f} ms")
    print(f"target < 150 ms: {'met' if main_case < 0.150 else 'NOT met'} ({main_case * 1000:.1f} ms)")
    for name in ("vramcalc --help", "vramcalc estimate 12B --json"):
        heavy = heavy_imports(CASES[name])
        print(f"{name}: heavy imports on the start-up path: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
