"""Shell completion: a script per shell, candidates for commands and options, and nothing on the normal path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.cli_helpers import run_cli


def _complete(words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)  # a trailing space: a new, empty word
    env = {**os.environ, "_VRAMCALC_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    out = subprocess.run([sys.executable, "-m", "vramcalc"], env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.split()


def test_candidates_for_commands_and_options() -> None:
    assert _complete("vramcalc est") == ["estimate"]
    assert "--dtype" in _complete("vramcalc estimate 7B --dt")
    assert set(_complete("vramcalc estimate 7B --engine ")) >= {"auto", "transformers", "vllm", "llama.cpp"}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_a_script_per_shell(capsys: pytest.CaptureFixture[str], shell: str) -> None:
    result = run_cli(capsys, "completion", shell)
    assert result.code == 0 and "_VRAMCALC_COMPLETE" in result.out


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "completion", "tcsh")
    assert result.code == 2 and result.err.startswith("Error: no completion for shell 'tcsh'")
