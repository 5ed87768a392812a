"""vramcalc's commands. Thin: parse flags, call the pure core, hand the report to a renderer."""

# No `from __future__ import annotations` here: typer would have to eval every string annotation at start-up.

import os
import sys
from enum import StrEnum
from pathlib import Path
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


class UnitsChoice(StrEnum):
    gb = "gb"
    gib = "gib"


FormatsOpt = Annotated[
    list[Path] | None,
    typer.Option("--formats", help="extra formats TOML (repeatable); also $VRAMCALC_FORMATS", metavar="FILE"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the report as JSON (stdout) for scripts")]
UnitsOpt = Annotated[
    UnitsChoice, typer.Option("--units", help="gb = 10^9 bytes (as file sizes are shown), gib = 2^30 bytes")
]


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


@app.command()
def estimate(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(
        metavar="MODEL", help='count ("12B"), label ("32B-Q4_K_M", "8x7B", "30B-A3B"), config.json, checkpoint, '
                              "GGUF or Hub id")],
    dtype: Annotated[
        list[str] | None,
        typer.Option("--dtype", "-d", help="format row to show (repeatable); default: a common set",
                     metavar="FORMAT"),
    ] = None,
    units: UnitsOpt = UnitsChoice.gb,
    explain: Annotated[bool, typer.Option("--explain", help="print the arithmetic behind each number")] = False,
    group_size: Annotated[
        int | None,
        typer.Option("--group-size", help="group size for configurable formats (q4, gptq, hqq …); -1 = one per row"),
    ] = None,
    scale_bits: Annotated[
        int | None, typer.Option("--scale-bits", help="scale width in bits for configurable formats", min=1)
    ] = None,
    bits: Annotated[
        float | None,
        typer.Option("--bits", help="weight bits: exl2 target (e.g. 4.65), hqq 1-8, gptq 2/3/4/8, mlx 2-8",
                     min=1, max=16),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", "-c", help="tokens per sequence: 8192, 8k, a list 4k,8k,32k, or max",
                          metavar="TOKENS")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", "-b", help="sequences at once", min=1)] = 1,
    engine: Annotated[str, typer.Option(
        "--engine", "-e", help="transformers, vllm or llama.cpp; auto: llama.cpp for GGUF files and when every row "
                               "is a GGUF type, else transformers")] = "auto",
    kv_dtype: Annotated[
        str | None, typer.Option("--kv-dtype", help="KV cache dtype: bf16, fp16, fp32, fp8, q8_0, q4_0 …")
    ] = None,
    gpu_memory: Annotated[
        str | None,
        typer.Option("--gpu-memory", help="memory per GPU, e.g. 24GiB (a card sold as \"24 GB\" has 24 GiB): adds "
                                          "GPUs needed and the longest context per format (also vLLM's budget; "
                                          "default an H100)")
    ] = None,
    gpu: Annotated[
        str | None,
        typer.Option("--gpu", metavar="NAME", help='a GPU by name instead of --gpu-memory: "RTX 4090", 2xA100-80GB, '
                                                   '"M3 Max 36GB" — its memory as the driver reports it (vramcalc gpus '
                                                   "lists them)")
    ] = None,
    gpu_memory_utilization: Annotated[
        float | None, typer.Option("--gpu-memory-utilization", help="vLLM's fraction (default 0.9)", min=0.01, max=1)
    ] = None,
    gpu_layers: Annotated[
        int | None, typer.Option("--gpu-layers", "-ngl", help="llama.cpp layers offloaded (default all)", min=0)
    ] = None,
    flash_attention: Annotated[
        bool | None, typer.Option("--flash-attention/--no-flash-attention", help="llama.cpp -fa on/off (default on)")
    ] = None,
    ubatch_size: Annotated[
        int | None, typer.Option("--ubatch-size", "-ub", min=1,
                                 help="llama.cpp physical batch (-ub), sizes its compute buffer (default 512)")
    ] = None,
    max_num_batched_tokens: Annotated[
        int | None, typer.Option("--max-num-batched-tokens", help="vLLM tokens per step (default 8192)", min=1)
    ] = None,
    max_num_seqs: Annotated[
        int | None, typer.Option("--max-num-seqs", help="vLLM sequences per step (default 256)", min=1)
    ] = None,
    resolution: Annotated[
        str | None, typer.Option("--resolution", metavar="WxH",
                                 help="diffusion pipelines: image size, 1024 or 1344x768 (WxH; default 1024)")
    ] = None,
    layers: Annotated[int | None, typer.Option("--layers", help="for a bare count: decoder layers", min=1)] = None,
    kv_heads: Annotated[int | None, typer.Option("--kv-heads", help="for a bare count: KV heads", min=1)] = None,
    head_dim: Annotated[int | None, typer.Option("--head-dim", help="for a bare count: head dimension", min=1)] = None,
    revision: Annotated[str | None, typer.Option("--revision", help="Hub revision (branch, tag, commit)")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Hub token (else $HF_TOKEN)", show_default=False)] = None,
    formats: FormatsOpt = None,
    gpus: Annotated[
        list[Path] | None,
        typer.Option("--gpus", help="extra GPU catalog TOML for --gpu (repeatable); also $VRAMCALC_GPUS",
                     metavar="FILE"),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Weights and VRAM per format for a model (default context 4096 tokens or the model's maximum if smaller)."""
    from vramcalc.calculator.engines import ENGINES, RuntimeRequest, architecture_from_flags
    from vramcalc.calculator.kv import check_kv_dtype
    from vramcalc.estimate import AUTO_ENGINE, EstimateRequest, FormatOptions, estimate_count, estimate_inventory
    from vramcalc.quant_table import estimate_quants
    from vramcalc.registry import load_registry
    from vramcalc.resolve import QuantSet, resolve_model
    from vramcalc.units import ModelLabel, parse_context, parse_resolution, parse_size

    if engine not in (*ENGINES, AUTO_ENGINE):
        raise UsageError(f"unknown engine {engine!r}", f"choose one of: {', '.join(ENGINES)} (or auto)")
    if kv_dtype is not None and engine != AUTO_ENGINE:
        check_kv_dtype(kv_dtype, engine)
    contexts: list[int | str] = [
        "max" if c.strip().lower() == "max" else parse_context(c) for c in (context or "").split(",") if c.strip()
    ]
    if context is not None and not contexts:
        raise UsageError("empty --context", "write --context 8192, --context 4k,8k,32k or --context max")
    flag_arch = None
    if layers or kv_heads or head_dim:
        if not (layers and kv_heads and head_dim):
            raise UsageError("--layers, --kv-heads and --head-dim go together", "give all three, e.g. "
                             "--layers 32 --kv-heads 8 --head-dim 128")
        flag_arch = architecture_from_flags(layers, kv_heads, head_dim)
    selection = None
    if gpu is not None:
        if gpu_memory is not None:
            raise UsageError("--gpu and --gpu-memory both give the GPU's memory", "give one of them")
        from vramcalc.gpus import load_catalog, parse_gpu

        selection = parse_gpu(gpu, load_catalog(gpus))
    registry = load_registry(formats)
    request = EstimateRequest(
        formats=list(dtype or []), units=units.value, explain=explain,
        options=FormatOptions(group_size=group_size, scale_bits=scale_bits, bits=bits),
        runtime=RuntimeRequest(
            engine=engine, batch=batch, kv_dtype=kv_dtype,
            gpu_memory=(selection.per_gpu_bytes if selection else
                        parse_size(gpu_memory, "--gpu-memory", unit_required=True) if gpu_memory else None),
            gpu_memory_utilization=gpu_memory_utilization, gpu_layers=gpu_layers,
            flash_attention=True if flash_attention is None else flash_attention,
            n_ubatch=ubatch_size or RuntimeRequest.n_ubatch, max_num_batched_tokens=max_num_batched_tokens,
            max_num_seqs=max_num_seqs,
        ),
        resolution=parse_resolution(resolution) if resolution else None,
        contexts=contexts, flag_architecture=flag_arch, given_options=_given_options(ctx), gpu=selection,
    )
    from vramcalc.cli.progress import progress_bar

    with progress_bar("reading headers") as progress:
        source = resolve_model(model, revision=revision, token=token, progress=progress)
    if isinstance(source, ModelLabel):
        report = estimate_count(source, request, registry)
    elif isinstance(source, QuantSet):  # several GGUF quants, none named: a table of them all
        report = estimate_quants(source, request, registry)
    else:
        report = estimate_inventory(source, request, registry)
    _emit(report, json_out, "render_estimate")


@app.command("formats")
def formats_cmd(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="NAME", help="only these formats, by name or alias (Q4_K_M, nf4, bfloat16 …)")] = None,
    formats: FormatsOpt = None,
    family: Annotated[str | None, typer.Option("--family", help="only this family (gguf_type, gptq …)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the format registry: bits per weight from each block layout, what stays unquantized, notes."""
    from vramcalc.formats_report import build_formats_report
    from vramcalc.registry import load_registry

    report = build_formats_report(load_registry(formats), family, names)
    _emit(report, json_out, "render_formats")


from vramcalc.cli import compare_cmd, gpus_cmd, inspect_cmd, train_cmd  # noqa: E402  (commands live in their own modules)

app.command("inspect")(inspect_cmd.inspect)
app.command("compare")(compare_cmd.compare)
app.command("train")(train_cmd.train)
app.command("gpus")(gpus_cmd.gpus)


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


def _emit(report: object, json_out: bool, renderer: str) -> None:
    from pydantic import BaseModel

    assert isinstance(report, BaseModel)
    from vramcalc.cli.safe_text import clean

    for warning in getattr(report, "warnings", None) or []:
        sys.stderr.write(f"Warning: {clean(warning)}\n")
    if json_out:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    from vramcalc.cli import render

    getattr(render, renderer)(report)


def _given_options(ctx: typer.Context) -> frozenset[str]:
    """The long names of the options the user typed (not those left at their defaults)."""
    given: set[str] = set()
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name) if param.name else None
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            given.update(o.split("/")[0] for o in param.opts if o.startswith("--"))
    return frozenset(given)


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
    sys.stderr.flush()
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    os._exit(code)
