#!/usr/bin/env bash
# Installs everything the project needs from its own files: Node packages (including Node 24 itself, as the
# `node` devDependency) from package-lock.json, and the Python dev tools (SAM CLI, cfn-lint with the
# serverless rules, moto server) into .venv from requirements-dev.txt, and Debian's chromium for the browser
# test. Safe to run again: it skips what is already up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x node_modules/.bin/node || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

if [[ ! -x .venv/bin/sam || ! -f .venv/.installed || requirements-dev.txt -nt .venv/.installed ]]; then
  echo "setup: python venv (.venv) from requirements-dev.txt" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  touch .venv/.installed
fi

if [[ ! -x .venv-checkov/bin/checkov || ! -f .venv-checkov/.installed || requirements-checkov.txt -nt .venv-checkov/.installed ]]; then
  echo "setup: checkov virtualenv (.venv-checkov) from requirements-checkov.txt" >&2
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
  touch .venv-checkov/.installed
fi

# Debian's Chromium, for the run report's browser test (tests/integration/report-page.test.ts). The test fails,
# saying so, when it is missing; the demo does not need it, so a failed install does not stop the setup here.
if ! command -v chromium >/dev/null 2>&1; then
  echo "setup: chromium (Debian package) for the browser test" >&2
  if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then as_root=(sudo); else as_root=(); fi
  if ! { "${as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null; }; then
    echo "setup: could not install chromium; the browser test will fail until it is installed" >&2
  fi
fi
