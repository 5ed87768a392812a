#!/usr/bin/env bash
# How long a context does each format of Llama-3.1-8B run at on one 24 GB card? The `max_context` field that
# --gpu-memory adds, read with jq (the config needs no weights).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vramcalc estimate "$here/configs/llama-3.1-8b" --gpu-memory 24GB --json |
  jq -r '.rows[] | "\(.format)\t\(.max_context) tokens\t\(.gpus) GPU(s) at 4k"'
