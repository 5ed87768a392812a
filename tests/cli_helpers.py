"""Run the CLI in-process, as a user would from a shell, and capture stdout, stderr and the exit code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from vramcalc.cli.app import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = int(e.code or 0) if not isinstance(e.code, str) else 1
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
