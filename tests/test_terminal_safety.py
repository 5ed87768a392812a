"""Text that files carry reaches the terminal inert: escape sequences shown as escapes, rich markup shown as typed —
in tables, notes, warnings and errors; JSON keeps every string exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import write_safetensors

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;owned\x07"
MARKUP = "[bold red]HIDDEN[/] visible"


def _hostile(tmp_path: Path) -> Path:
    return write_safetensors(tmp_path / "m.safetensors", {
        f"model.layers.0.mlp.up_proj{CLEAR}.weight": ("BF16", [64, 64]),
        f"{MARKUP}.weight": ("BF16", [64, 64]),
        f"x{TITLE}.weight": ("BF16", [8]),
        "[/]": ("BF16", [4]),
    })


@pytest.mark.parametrize("args", [["inspect", "--tensors"], ["estimate", "-d", "bf16", "--explain"]])
def test_names_from_a_file_are_printed_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    command, *flags = args
    result = run_cli(capsys, command, str(_hostile(tmp_path)), *flags)
    assert result.code == 0, result.err
    text = result.out + result.err
    assert "\x1b" not in text and "\x07" not in text
    if command == "inspect":
        assert "\\x1b[2J" in result.out and "\\x1b]0;owned" in result.out
        assert MARKUP in result.out and "[/]" in result.out  # shown as typed, not interpreted (nor a crash)


def test_json_keeps_names_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "inspect", str(_hostile(tmp_path)), "--tensors", "--json").json()
    names = {t["name"] for t in data["tensors"]}
    assert f"model.layers.0.mlp.up_proj{CLEAR}.weight" in names and f"x{TITLE}.weight" in names


def test_errors_and_format_notes_are_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / f"no{CLEAR}such"
    err = run_cli(capsys, "estimate", str(bad / "config.json")).err
    assert err.startswith("Error: ") and "\x1b" not in err and "\\x1b[2J" in err
    formats = tmp_path / "f.toml"
    formats.write_text(json.dumps({}).replace("{}", "") + f'''
[[format]]
name = "mine"
family = "int"
payload_bits = 4
quantizes = "linear"
notes = "{MARKUP} \\u001b[31mred"
source = "[/]"
''')
    out = run_cli(capsys, "formats", "mine", "--formats", str(formats))
    assert out.code == 0, out.err
    assert MARKUP in out.out and "\x1b" not in out.out and "\\x1b[31mred" in out.out
