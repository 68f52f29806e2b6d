#!/usr/bin/env bash
# Installs everything the project needs from its own files: Node packages (including Node 24 itself, as the
# `node` devDependency) from package-lock.json, and the Python dev tools (SAM CLI, cfn-lint with the
# serverless rules, moto server) into .venv from requirements-dev.txt. Safe to run again: it skips what is
# already up to date.
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
