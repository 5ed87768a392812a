"""vramcalc's commands. Thin: parse flags, call the pure core, hand the report to a renderer."""

# No `from __future__ import annotations` here: typer would have to eval every string annotation at start-up.

import os
import sys
from typing import Annotated, Any, NoReturn

import typer

from vramcalc import __version__
from vramcalc.errors import UsageError, VramcalcError

app = typer.Typer(
    name="vramcalc",
    help="Model size and GPU memory (VRAM) estimates, from a parameter count, a label, a config.json, "
    "a checkpoint, a GGUF or a Hub repo — with the arithmetic shown.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEBUG_ENV = "VRAMCALC_DEBUG"


# the shared options, re-exported for command modules written against app (import them from cli.options)
from vramcalc.cli.options import FormatsOpt, JsonOpt, UnitsChoice, UnitsOpt  # noqa: E402,F401


def _version(value: bool) -> None:
    if value:
        print(f"vramcalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    pass


from vramcalc.cli import (  # noqa: E402  (commands live in their own modules)
    compare_cmd,
    estimate_cmd,
    fit_cmd,
    formats_cmd,
    gpus_cmd,
    inspect_cmd,
    train_cmd,
)

app.command("estimate")(estimate_cmd.estimate)
app.command("formats")(formats_cmd.formats)
app.command("inspect")(inspect_cmd.inspect)
app.command("compare")(compare_cmd.compare)
app.command("train")(train_cmd.train)
app.command("gpus")(gpus_cmd.gpus)
app.command("fit")(fit_cmd.fit)


@app.command()
def completion(
    shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh, fish or powershell")],
) -> None:
    """Print the shell completion script: eval "$(vramcalc completion bash)" in ~/.bashrc (zsh, fish alike)."""
    from typer._completion_shared import get_completion_script

    if shell not in _SHELLS:
        raise UsageError(f"no completion for shell {shell!r}", f"choose one of: {', '.join(_SHELLS)}")
    print(get_completion_script(prog_name="vramcalc", complete_var=COMPLETE_ENV, shell=shell))


_SHELLS = ("bash", "zsh", "fish", "powershell")
COMPLETE_ENV = "_VRAMCALC_COMPLETE"  # what the completion scripts set when they ask vramcalc for candidates


@app.command()
def schema(
    command: Annotated[str, typer.Argument(metavar="COMMAND", help="command whose JSON report schema to print")],
) -> None:
    """Print the JSON Schema of a command's --json report."""
    import json

    from vramcalc.reports import REPORTS, report_model

    if command not in REPORTS:
        raise UsageError(f"no JSON report for {command!r}", f"choose one of: {', '.join(sorted(REPORTS))}")
    print(json.dumps(report_model(command).model_json_schema(), indent=2))


def _fail(message: str, code: int) -> NoReturn:
    from vramcalc.cli.safe_text import clean

    sys.stderr.write(f"Error: {clean(message)}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def _click_exceptions() -> Any:
    """typer ≥ 0.20 vendors click as typer._click; older typer uses click itself."""
    import importlib

    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover - older typer
        return importlib.import_module("click.exceptions")


def _app_for(args: list[str]) -> typer.Typer:
    """The app with only the command being run: typer introspects the signature of every registered command on
    each run (~3 ms of start-up for the four others). Without a known command name, the whole app."""
    import copy

    name = next((a for a in args if not a.startswith("-")), None)
    infos = [c for c in app.registered_commands
             if (c.name or getattr(c.callback, "__name__", "")) == name]
    if not infos:
        return app
    only = copy.copy(app)
    only.registered_commands = infos
    return only


def main(argv: list[str] | None = None) -> None:
    # pydantic scans installed distributions for plugins on first use (~20 ms); a CLI needs none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    exc = _click_exceptions()
    try:
        args = sys.argv[1:] if argv is None else argv
        if COMPLETE_ENV in os.environ:  # a completion request: typer's completion machinery, only then
            from typer.completion import completion_init  # type: ignore[attr-defined]

            completion_init()
            app(args=args, prog_name="vramcalc", complete_var=COMPLETE_ENV)
        _app_for(args)(args=args, prog_name="vramcalc", standalone_mode=False)
    except VramcalcError as e:
        if os.environ.get(DEBUG_ENV):
            raise
        _fail(str(e), e.exit_code)
    except exc.NoArgsIsHelpError as e:
        sys.stderr.write(e.ctx.get_help() + "\n" if e.ctx else "")
        raise SystemExit(2) from None
    except exc.UsageError as e:
        hint = f" — run `{e.ctx.command_path} --help`" if e.ctx else ""
        _fail(f"{e.format_message()}{hint}", 2)
    except (typer.Exit, typer.Abort, KeyboardInterrupt) as e:
        if isinstance(e, typer.Exit):
            raise SystemExit(e.exit_code) from None
        _fail("interrupted", 130)
    except BrokenPipeError:
        # `vramcalc … | head`: the reader left; not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None
    except OSError as e:  # writing the report: a full disk (`> /dev/full`), an I/O error
        if os.environ.get(DEBUG_ENV):
            raise
        _fail(f"cannot write the output ({e.strerror or e}) — check the disk or pipe it goes to", 1)
    except Exception as e:  # a bug of ours: one line, and the traceback on request
        if os.environ.get(DEBUG_ENV):
            raise
        _fail(f"internal error ({type(e).__name__}: {e}) — please report it; {DEBUG_ENV}=1 shows the traceback", 1)


def run() -> NoReturn:
    """The console script and `python -m vramcalc`: main(), then exit without tearing the interpreter down.

    Python's finalization (a full garbage collection, then clearing the modules of typer, rich and pydantic) costs
    ~25 ms, a sixth of `vramcalc estimate 12B`; once stdout and stderr are flushed it has nothing left to do.
    Errors that escape main() (VRAMCALC_DEBUG tracebacks) take the normal exit.
    """
    if sys.stdout is None or sys.stderr is None:  # started with a stream closed (`vramcalc … >&-`)
        if sys.stderr is not None:
            sys.stderr.write("Error: standard output is closed — run vramcalc with its output to a terminal, file "
                             "or pipe\n")
            sys.stderr.flush()
        os._exit(1)
    try:
        main()
        code = 0
    except SystemExit as e:
        if isinstance(e.code, str):
            sys.stderr.write(e.code + "\n")
        code = e.code if isinstance(e.code, int) else (1 if e.code else 0)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (`| head`): nothing more to say
        pass
    except OSError as e:  # the report did not fit (`> /dev/full`)
        sys.stderr.write(f"Error: cannot write the output ({e.strerror or e}) — check the disk or pipe it goes to\n")
        code = code or 1
    sys.stderr.flush()
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    os._exit(code)
