#!/usr/bin/env bash
# Which formats of a 32B model fit on a 24 GB card? `vramcalc … --json` piped into jq.
set -euo pipefail
vramcalc estimate 32B --json |
  jq -r '.rows[] | select(.total_bytes <= 24e9) | "\(.format)\t\(.total_bytes / 1e9 * 100 | round / 100) GB"'
