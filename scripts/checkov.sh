#!/usr/bin/env bash
# checkov on one CloudFormation file, failing when checkov could not read it. checkov exits 0 on a file it
# cannot parse (a YAML merge that overrides a key it brings, say) and then has checked nothing.
# Usage: scripts/checkov.sh FILE   (skips and their reasons are in .checkov.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
# BC_SKIP_MAPPING: checkov would otherwise fetch its guideline mappings from the internet on every run.
export BC_SKIP_MAPPING=TRUE
report="$(.venv-checkov/bin/checkov --config-file .checkov.yaml -f "$1")" || { printf '%s\n' "$report"; exit 1; }
printf '%s\n' "$report"
if ! grep -qE '^Passed checks: [1-9][0-9]*, Failed checks: 0, Skipped checks: [0-9]+$' <<<"$report"; then
  echo "checkov checked nothing in $1 (a parsing error above?)" >&2
  exit 1
fi
