"""The one output sink: a report goes to stdout as JSON or as its table (chosen by the report's command); its
warnings go to stderr, cleaned of control characters — the same policy for every command."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from vramcalc.cli.safe_text import clean

if TYPE_CHECKING:
    from pydantic import BaseModel

# report.command → "module:function" that renders it; imported only when a table is asked for.
RENDERERS = {
    "estimate": "vramcalc.cli.render:render_estimate",
    "formats": "vramcalc.cli.render:render_formats",
    "compare": "vramcalc.cli.render_compare:render_compare",
    "inspect": "vramcalc.cli.render_inspect:render_inspect",
    "gpus": "vramcalc.cli.render_gpus:render_gpus",
    "train": "vramcalc.cli.render_train:render_train",
    "fit": "vramcalc.cli.render_fit:render_fit",
}


def emit(report: BaseModel, json_out: bool, **render_options: Any) -> None:
    for warning in getattr(report, "warnings", None) or []:
        sys.stderr.write(f"Warning: {clean(warning)}\n")
    if json_out:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    command = str(vars(report)["command"])
    module, _, name = RENDERERS[command].partition(":")
    getattr(importlib.import_module(module), name)(report, **render_options)
