"""`vramcalc estimate MODEL`: weights and VRAM per format."""

# No `from __future__ import annotations`: typer reads these annotations at run time.

from typing import Annotated

import typer

from vramcalc.cli.options import (
    BatchOpt,
    EngineChoice,
    EngineOpt,
    FormatsOpt,
    GpuMemoryOpt,
    GpuOpt,
    GpusOpt,
    JsonOpt,
    RefreshOpt,
    RevisionOpt,
    TokenOpt,
    UnitsChoice,
    UnitsOpt,
    given_options,
)
from vramcalc.cli.output import emit


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
    batch: BatchOpt = 1,
    engine: EngineOpt = EngineChoice.auto,
    kv_dtype: Annotated[
        str | None, typer.Option("--kv-dtype", help="KV cache dtype: bf16, fp16, fp32, fp8, q8_0, q4_0 …")
    ] = None,
    gpu_memory: GpuMemoryOpt = None,
    gpu: GpuOpt = None,
    gpu_memory_utilization: Annotated[
        float | None, typer.Option("--gpu-memory-utilization", help="vLLM's fraction (default 0.9)", min=0.01, max=1)
    ] = None,
    gpu_layers: Annotated[
        int | None, typer.Option("--gpu-layers", "-ngl", help="llama.cpp layers offloaded (default all)", min=0)
    ] = None,
    flash_attention: Annotated[
        bool | None, typer.Option("--flash-attention/--no-flash-attention", help="llama.cpp -fa on/off (default on)")
    ] = None,
    op_offload: Annotated[
        bool | None, typer.Option("--op-offload/--no-op-offload",
                                  help="llama.cpp: run host weights' large-batch ops on the GPU (default on)")
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
    layers: Annotated[int | None, typer.Option("--layers", help="for a bare count: decoder layers", min=1,
                                               max=10_000)] = None,
    kv_heads: Annotated[int | None, typer.Option("--kv-heads", help="for a bare count: KV heads", min=1,
                                                 max=65_536)] = None,
    head_dim: Annotated[int | None, typer.Option("--head-dim", help="for a bare count: head dimension", min=1,
                                                 max=65_536)] = None,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    refresh: RefreshOpt = False,
    formats: FormatsOpt = None,
    gpus: GpusOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Weights and VRAM per format for a model (default context 4096 tokens or the model's maximum if smaller)."""
    from vramcalc.api import estimate as estimate_model
    from vramcalc.cli.progress import progress_bar

    with progress_bar("reading headers") as progress:
        report = estimate_model(
            model, formats=list(dtype or []), context=context, batch=batch, engine=engine.value, kv_dtype=kv_dtype,
            gpu_memory=gpu_memory, gpu=gpu, units=units.value, explain=explain, group_size=group_size,
            scale_bits=scale_bits, bits=bits, gpu_memory_utilization=gpu_memory_utilization, gpu_layers=gpu_layers,
            flash_attention=True if flash_attention is None else flash_attention, ubatch_size=ubatch_size or 512,
            op_offload=op_offload is not False,
            max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs, resolution=resolution,
            layers=layers, kv_heads=kv_heads, head_dim=head_dim, revision=revision, token=token, refresh=refresh,
            format_files=formats, gpu_files=gpus, given_options=given_options(ctx), progress=progress)
    emit(report, json_out)
