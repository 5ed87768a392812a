"""The README's example outputs are the tool's real output: every complete ```console block is run again (at 120
columns) and must print exactly what the README shows. Excerpts (blocks with "..." lines) are checked line by line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```console\n\$ (vramcalc [^\n]+)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.parametrize(("command", "shown"), BLOCKS, ids=[c for c, _ in BLOCKS])
def test_readme_example(command: str, shown: str, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.chdir(ROOT)
    result = run_cli(capsys, *shlex.split(command)[1:])
    printed = "".join(line.rstrip() + "\n" for line in (result.out + result.err).splitlines())
    lines = [line for line in shown.splitlines() if line.strip() not in ("...", "")]
    if any(line.strip() == "..." for line in shown.splitlines()) or "…\n" in shown:
        for line in lines:  # an excerpt: each line shown (up to an elision) is printed
            assert line.rstrip(" …").rstrip() in printed, line
    else:
        assert printed == shown
