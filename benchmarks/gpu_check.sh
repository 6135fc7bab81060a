#!/usr/bin/env bash
# The paper's configuration on one lent GPU, against the authors' procedure on the same card:
# ResNet-18 (width 64, standard 7x7/2 stem + max-pool), 96 px, batch 256, UNet with 32 base
# filters (5 blocks at 96 px), SimCLR with N = 4 and BYOL with N = 6, in float32 and
# mixed_bfloat16, keras_adios on every Keras backend the machine has, each timed in the same
# alternating rounds as the PyTorch reference (benchmarks/vs_reference.py): step time,
# images/s, peak GPU memory of both sides and the fraction of the card's dense bf16 peak.
#
#   bash benchmarks/gpu_check.sh prepare          # here: the Keras wheels the GPU image lacks -> .whl/
#   bash benchmarks/gpu_check.sh device [SECS]    # there, one call: every measurement that fits in
#                                                 # SECS (default 450); results -> $OUT
#   bash benchmarks/gpu_check.sh collect DIR      # here: DIR's results -> benchmarks/results/gpu_check/
#
# The lent machines (docs/benchmarks.md) have PyTorch and JAX with CUDA but neither Keras nor
# TensorFlow and no network: `prepare` downloads the wheels of Keras and the two of its
# dependencies the image lacks (about 2 MB; pass them with the device tool's `carry`). A
# TensorFlow GPU wheel is far over the 64 MiB a call may carry, so TensorFlow runs there only
# if the image has it; the results say which backends ran. Measurements run in order of
# interest (SimCLR bf16, BYOL bf16, SimCLR float32, BYOL float32); one that would not finish
# before the deadline is left out and named, never approximated.
#
# GPU_CHECK_QUICK=1 runs the same procedure at smoke size on any machine, on the backends in
# GPU_CHECK_BACKENDS (default $KERAS_BACKEND); GPU_CHECK_RUNS="objective:N:precision ..." picks
# the measurements (tests/benchmarks/test_gpu_check.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHEELS=.whl
case "${1:-}" in
  prepare)
    [ -f .venv/bin/activate ] && source .venv/bin/activate
    version=$(python -c "import keras; print(keras.__version__)")
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    # The device image's Python is 3.12 on x86-64 Linux.
    python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --dest "$WHEELS" \
      "keras==$version" namex optree
    ls -l "$WHEELS"
    ;;
  device)
    deadline=$(( $(date +%s) + ${2:-450} ))
    out=${OUT:?device: set OUT to the folder whose files come back}
    python=${PYTHON:-python3}
    if ! "$python" -c "import keras" 2> /dev/null && compgen -G "$WHEELS/*.whl" > /dev/null; then
      site=/tmp/gpu_check_site
      "$python" -m pip install --quiet --no-index --no-deps --target "$site" "$WHEELS"/*.whl
      export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    # Several workers share the GPU one after another: no framework may reserve it whole.
    export XLA_PYTHON_CLIENT_PREALLOCATE=false TF_FORCE_GPU_ALLOW_GROWTH=true TF_CPP_MIN_LOG_LEVEL=3
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/device.txt" 2>&1 \
      || echo "no nvidia-smi: $(uname -m) CPU" > "$out/device.txt"
    backends=$("$python" benchmarks/vs_reference.py --gpu_backends 2> "$out/probe.log" | tail -1)
    if [ -n "${GPU_CHECK_QUICK:-}" ]; then
      backends=${GPU_CHECK_BACKENDS:-${KERAS_BACKEND:-tensorflow}}
      sizing=(--quick --image_size=32 --stem=imagenet)
    else
      sizing=(--configs=w64_b256 --image_size=96 --stem=imagenet --rounds=3 --steps=4 --warmup=2
              --masker_filters=32)
    fi
    echo "Keras backends on this machine's GPU: ${backends:-none}" | tee -a "$out/device.txt"
    if [ -z "$backends" ]; then
      echo "no Keras backend sees a GPU here: nothing to measure" >&2
      exit 1
    fi
    status=0
    for run in ${GPU_CHECK_RUNS:-simclr:4:mixed_bfloat16 byol:6:mixed_bfloat16 simclr:4:float32 byol:6:float32}; do
      IFS=: read -r objective masks precision <<< "$run"
      name="gpu_check_${objective}_${precision}"
      left=$(( deadline - $(date +%s) ))
      if [ "$left" -lt 60 ]; then
        echo "left out (deadline): $name" | tee -a "$out/device.txt"
        continue
      fi
      echo "=== $name ($left s left)"
      if ! timeout "$left" "$python" benchmarks/vs_reference.py "${sizing[@]}" --objective="$objective" \
          --num_masks="$masks" --precision="$precision" --keras_backends="$backends" \
          --output="$out/$name" 2> "$out/$name.log"; then
        echo "failed or stopped at the deadline: $name (its log: $name.log)" | tee -a "$out/device.txt"
        tail -5 "$out/$name.log" >&2
        status=1
      fi
    done
    exit $status
    ;;
  collect)
    src=${2:?collect DIR: the folder holding the files the device call returned}
    dest=${3:-benchmarks/results/gpu_check}
    mkdir -p "$dest"
    cp "$src"/gpu_check_*.md "$src"/gpu_check_*.json "$src"/device.txt "$dest"/
    ls "$dest"
    ;;
  *)
    echo "usage: $0 prepare | device [SECS] | collect DIR [DEST]" >&2
    exit 2
    ;;
esac
