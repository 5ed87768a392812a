"""The H100 measurements in tests/data/measurements, loaded once for every test that checks against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "measurements"


def _models() -> dict[str, dict[str, Any]]:
    src = (DATA / "measure.py").read_text()
    ns: dict[str, Any] = {}
    exec(src[src.index("MODELS = {"):src.index("RUNS = {")], ns)  # the configs the measurements were built from
    return ns["MODELS"]


MODELS = _models()
RECORDS = [json.loads(line) for line in (DATA / "h100-transformers.jsonl").read_text().splitlines()]
WEIGHTS = {(r["model"], r["dtype"]): r for r in RECORDS if r["kind"] == "weights"}
RUNS = [r for r in RECORDS if r["kind"] == "generate"]
LLAMACPP = json.loads((DATA / "llamacpp-h100.json").read_text())


def run_id(r: dict[str, Any]) -> str:
    return f"{r['model']}-{r['dtype'][6:]}-b{r['batch']}-p{r['prompt']}"
