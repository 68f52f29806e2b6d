#!/usr/bin/env bash
# The test command: lint, type check, unit tests, template checks (cfn-lint with the serverless rules,
# sam validate --lint, checkov on the template and its SAM translation), sam build, then the integration tests against the offline pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1

step() { printf '\n== %s\n' "$*" >&2; }

step "lint (biome)"
biome ci .
step "type check (tsc --noEmit)"
tsc --noEmit
step "unit tests"
vitest run --project unit
step "cfn-lint with serverless rules"
cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
step "sam validate --lint"
sam validate --lint
step "checkov on template.yaml and on its SAM translation (skips and reasons in .checkov.yaml)"
translation="$(mktemp --suffix=.json)"
python local/iam/translate.py template.yaml > "$translation"
scripts/checkov.sh template.yaml
scripts/checkov.sh "$translation"
rm -f "$translation"
step "sam build"
sam build --cached --parallel
step "integration tests (offline pipeline on moto)"
vitest run --project integration
