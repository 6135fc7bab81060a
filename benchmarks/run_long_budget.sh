#!/usr/bin/env bash
# The quality matrix at 10x the CPU budget (200 epochs = 15,600 steps per run), on a
# GPU machine lent for minutes (JAX, no TensorFlow, no network). Three steps:
#
#   bash benchmarks/run_long_budget.sh prepare      # here: the runs' configs and data -> .device_bundle/
#   bash benchmarks/run_long_budget.sh device SECS  # there: every run side by side, killed after SECS;
#                                                   # records and mask pictures -> $OUT/long_budget.tar
#   bash benchmarks/run_long_budget.sh tables TAR   # here: records -> benchmarks/results/long_budget/,
#                                                   # then quality.py's tables (quality_long_budget_*.md)
#
# The runs are small (a 3-stage ResNet on 32x32 images, batch 128): one run leaves an
# H200 mostly idle, waiting for the host to launch kernels, so the device step starts
# every run as its own process at once. Their wall-clock times are therefore not a
# measure of one run's cost (the CPU matrix's CPU seconds are). A run that did not finish
# within SECS is missing from the tables, not approximated.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUNDLE=.device_bundle
EPOCHS=${LONG_BUDGET_EPOCHS:-200}
case "${1:-}" in
  prepare)
    [ -f .venv/bin/activate ] && source .venv/bin/activate
    rm -rf "$BUNDLE"
    KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/long_budget.py --mode=prepare \
      --bundle_dir="$BUNDLE" --epochs="$EPOCHS" "${@:2}"
    ;;
  device)
    limit=${2:?device SECS: how long the runs may take}
    work=/tmp/long_budget
    mkdir -p "$work"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$work/device.txt" || true
    status=0
    python3 benchmarks/long_budget.py --mode=device --bundle_dir="$BUNDLE" --output_dir="$work" \
      --limit_seconds="$limit" "${@:3}" || status=1
    tar -cf "${OUT:?}/long_budget.tar" -C "$work" .
    grep -h "probe .*kNN\|Error" "$work"/run_*.log | tail -40 || true
    exit $status
    ;;
  tables)
    tarball=${2:?tables TAR: the long_budget.tar the device step wrote}
    [ -f .venv/bin/activate ] && source .venv/bin/activate
    export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
    python benchmarks/long_budget.py --mode=tables --tarball="$tarball" --bundle_dir="$BUNDLE" "${@:3}"
    ;;
  *)
    echo "usage: $0 prepare | device SECS | tables TAR" >&2
    exit 2
    ;;
esac
