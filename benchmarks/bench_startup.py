"""Start-up time of `vramcalc estimate 12B --json` as a whole process, against `python -c pass`.

Target: under 150 ms median on the team's machine. Also checks that the start-up path imports neither
huggingface_hub nor safetensors. Run: `python benchmarks/bench_startup.py [--runs 21]`.

The cases run round-robin so a noisy neighbour slows all of them alike. The package's bytecode is compiled
first, as `pip install` does: an editable install under PYTHONDONTWRITEBYTECODE would otherwise recompile every
module on every run. The "dependency floor" case does what any typer + pydantic CLI must: import typer, build a
TypeAdapter (typer ≥ 0.29 coerces each option through one) and dump one pydantic model as JSON — and, like
vramcalc's entry point, exit without the interpreter's teardown (~25 ms of full GC and module clearing).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

FLOOR = """
import typer
from pydantic import BaseModel, TypeAdapter
TypeAdapter(int).validate_python(1)
class Report(BaseModel):
    rows: list[int]
print(Report(rows=[1]).model_dump_json())
import os, sys
sys.stdout.flush()
os._exit(0)  # as vramcalc's entry point does: no interpreter teardown
"""
# the installed console script, as a user runs it (`python -m` adds runpy)
_SCRIPT = shutil.which("vramcalc", path=str(Path(sys.executable).parent))
VRAMCALC = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "vramcalc"]
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import typer, rich, pydantic": [sys.executable, "-c", "import typer, rich.console, pydantic"],
    "dependency floor": [sys.executable, "-c", FLOOR],
    "vramcalc --help": [*VRAMCALC, "--help"],
    "vramcalc estimate 12B --json": [*VRAMCALC, "estimate", "12B", "--json"],
    "vramcalc estimate 12B (table)": [*VRAMCALC, "estimate", "12B"],
}
FORBIDDEN = ("huggingface_hub", "safetensors", "numpy")


def time_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def heavy_imports(cmd: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    mods = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    return sorted(m for m in mods if m.split(".")[0] in FORBIDDEN)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    import vramcalc

    compileall.compile_dir(str(Path(vramcalc.__file__).parent), quiet=1)
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for cmd in CASES.values():
        time_once(cmd)  # warm the file cache and the registry cache
    for _ in range(args.runs):
        for name, cmd in CASES.items():
            samples[name].append(time_once(cmd))
    medians = {}
    for name, times in samples.items():
        medians[name] = statistics.median(times)
        print(f"{name:<32} median {medians[name] * 1000:7.1f} ms   (min {min(times) * 1000:6.1f}, "
              f"max {max(times) * 1000:6.1f}, n={args.runs})")
    base = medians["python -c pass"]
    main_case = medians["vramcalc estimate 12B --json"]
    over = (main_case - medians["dependency floor"]) * 1000
    print(f"\nratio estimate/python-pass: {main_case / base:.1f}x; over the dependency floor "
          f"(typer + one TypeAdapter + one pydantic model dumped): {over:+.1f} ms")
    print(f"target < 150 ms: {'met' if main_case < 0.150 else 'NOT met'} ({main_case * 1000:.1f} ms)")
    for name in ("vramcalc --help", "vramcalc estimate 12B --json"):
        heavy = heavy_imports(CASES[name])
        print(f"{name}: heavy imports on the start-up path: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
