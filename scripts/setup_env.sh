#!/usr/bin/env bash
# Creates ./.venv (Python 3.10+) and installs keras_adios with the given extras.
# Idempotent: re-installs only when pyproject.toml or the extras change.
# Usage: source scripts/setup_env.sh [extras]   (e.g. "all" or "")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${1:-}"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "[setup] creating $ROOT/.venv with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$ROOT/.venv"
fi
STAMP="$ROOT/.venv/.keras_adios-installed"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-[$EXTRAS]"
if [ ! -f "$STAMP" ] || ! grep -qxF -- "$WANT" "$STAMP"; then
  SPEC="$ROOT"
  [ -n "$EXTRAS" ] && SPEC="$ROOT[$EXTRAS]"
  echo "[setup] installing keras_adios${EXTRAS:+[$EXTRAS]} and its dependencies (about a minute)"
  "$ROOT/.venv/bin/python" -m pip install -qq --disable-pip-version-check --upgrade pip >/dev/null
  # -qq: only errors (no build-backend notes about editable installs, no index warnings)
  "$ROOT/.venv/bin/python" -m pip install -qq --disable-pip-version-check -e "$SPEC"
  echo "$WANT" >> "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
