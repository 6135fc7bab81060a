#!/usr/bin/env bash
# Sets up ./.venv and trains ADIOS (SimCLR objective, 4 learned masks) on the
# built-in synthetic shapes dataset on the CPU, then evaluates it.
# Writes runs/quickstart/: encoder.keras, masker.keras, adios.keras,
# masks/masks_epoch_*.png, metrics.json/.csv, evaluation.json, tensorboard/.
# Extra arguments are passed to `python -m keras_adios.train` (see --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh" ""
cd "$ROOT"
export KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}"
python -m keras_adios.train \
  --dataset=shapes32 --objective=simclr --masking=adios \
  --output_dir=runs/quickstart "$@"
echo "Mask grids: runs/quickstart/masks/   Metrics: runs/quickstart/metrics.csv"
