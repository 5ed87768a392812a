"""Each estimate row answers for its own format: a what-if row of a GGUF is the model in that format, the engine
is chosen per row, and a flag given at its default changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import write_gguf


def test_float_rows_of_a_gguf_are_the_model_dequantized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_gguf(tmp_path / "m.gguf")
    data = run_cli(capsys, "estimate", str(path), "-d", "as stored", "-d", "fp32", "-d", "bf16", "--json").json()
    stored, fp32, bf16 = data["rows"]
    params = data["model"]["params"]
    # used to keep the Q8_0 tensor as it is ("fp32 needs 6.05 GB" for an 8B Q4_K_M file)
    assert fp32["weight_bytes"] == 4 * params and bf16["weight_bytes"] == 2 * params
    assert stored["weight_bytes"] < fp32["weight_bytes"]
    assert any(k.startswith("priced dequantized: the GGUF's Q8_0 tensors") for k in bf16["kept"])
    assert not any("dequantized" in k for k in stored["kept"])
