#!/usr/bin/env bash
# The main job: set up on a fresh machine, build with SAM, and run the whole pipeline offline (moto on
# loopback, no AWS, no Docker) on the sample files in local/samples/. Extra arguments go to the demo
# command, e.g. --json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH" SAM_CLI_TELEMETRY=0
exec npm run --silent local -- demo "$@"
