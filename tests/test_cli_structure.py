"""The CLI's seams: every command with --json has a schema its output validates against, commands import shared
options (never the app, so no import cycle), --engine lists exactly the engine profiles, and the best-fit answer is
a field, not only prose."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vramcalc.calculator.engines import PROFILES
from vramcalc.cli.app import app
from vramcalc.cli.options import EngineChoice
from vramcalc.cli.output import RENDERERS
from vramcalc.reports import REPORTS, report_model

ROOT = Path(__file__).resolve().parents[1]
LLAMA_8B = str(ROOT / "examples" / "configs" / "llama-3.1-8b")
# one real invocation per command that has --json
RUNS = {
    "estimate": ["estimate", LLAMA_8B, "-d", "Q4_K_M", "--gpu-memory", "24GiB"],
    "formats": ["formats", "Q4_K_M"],
    "compare": ["compare", "13B-Q4_K_M", "7B-Q8_0"],
    "inspect": ["inspect", LLAMA_8B],
    "gpus": ["gpus", "RTX 4090"],
    "train": ["train", LLAMA_8B, "--method", "lora"],
}


def _commands_with_json() -> set[str]:
    import typer.main

    click_app = typer.main.get_command(app)
    return {name for name, cmd in click_app.commands.items()  # type: ignore[attr-defined]
            if any("--json" in p.opts for p in cmd.params)}


def test_every_json_command_has_a_schema_and_a_renderer() -> None:
    commands = _commands_with_json()
    assert commands >= set(RUNS) - {"train"}
    assert commands <= set(REPORTS) and commands <= set(RENDERERS)


@pytest.mark.parametrize("command", sorted(RUNS))
def test_json_output_validates_against_the_schema(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    if command not in _commands_with_json():
        pytest.skip(f"{command} is not registered")
    schema = run_cli(capsys, "schema", command)
    assert schema.code == 0 and json.loads(schema.out)["type"] == "object"
    result = run_cli(capsys, *RUNS[command], "--json")
    assert result.code == 0, result.err
    report = report_model(command).model_validate_json(result.out)
    assert report.model_dump(mode="json") == json.loads(result.out)


def test_command_modules_never_import_the_app() -> None:
    for path in (ROOT / "src" / "vramcalc" / "cli").glob("*_cmd.py"):
        imported = {node.module for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom)}
        assert "vramcalc.cli.app" not in imported, path.name


def test_engine_choices_are_the_profiles() -> None:
    choices = {e.value for e in EngineChoice} - {"auto"}
    # every choice is a profile; a profile left out is one chosen for the device, never by name (Apple's Metal)
    assert choices <= set(PROFILES)
    assert all(getattr(PROFILES[p], "chosen_by_device", False) for p in set(PROFILES) - choices)


def test_best_fit_is_a_field(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_cli(capsys, "estimate", LLAMA_8B, "-d", "bf16", "-d", "Q8_0", "-d", "Q4_K_M", "--gpu-memory", "16GiB",
                   "--json").json()
    assert data["best_fit"]["format"] == "Q8_0" and data["best_fit"]["gpus"] == 1
    assert data["best_fit"]["answer"] in data["notes"]
    none = run_cli(capsys, "estimate", LLAMA_8B, "-d", "bf16", "--gpu-memory", "8GB", "--json").json()
    assert none["best_fit"]["format"] == "bf16" and none["best_fit"]["gpus"] == 3
    assert run_cli(capsys, "estimate", LLAMA_8B, "-d", "bf16", "--json").json()["best_fit"] is None
