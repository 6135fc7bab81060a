#!/usr/bin/env bash
# The quality matrix at the calibrated budget (benchmarks/results/calibration.md:
# SmallResNet 16,32,64, batch 128, 10k images, Adam 2e-3; 20 epochs = 1560 steps,
# where plain SimCLR is already +0.13 probe / +0.18 kNN over the untrained encoder).
# Resumable: every (dataset, row, seed) is one JSON file under benchmarks/results/matrix/; rerun
# this script after an interruption and it continues where it stopped. Order: the
# cheapest informative comparison first (seed 0, shortcut data, none vs ADIOS), so a
# partial matrix already answers something:
#   1. seed 0, every SimCLR row, both datasets;
#   2. the headline comparison, SimCLR without masks vs SimCLR+ADIOS, seeds 0-2, both
#      datasets (quality_matrix_<dataset>_headline.*: the 3-seed means and standard errors);
#   3. BYOL and SimSiam, none vs ADIOS, seed 0, on the first dataset (the shortcut one);
#   4. seeds 1-2 of the other SimCLR rows (runs of step 2 are reused, not repeated);
#   5. BYOL and SimSiam, none vs ADIOS, seed 0, on the other datasets.
# Run it niced in the background:
#
#   nohup nice -n 10 bash benchmarks/run_matrix.sh > runs/matrix.log 2>&1 &
#   MATRIX_DATASETS=cifar10 nohup nice -n 10 bash benchmarks/run_matrix.sh > runs/matrix_cifar10.log 2>&1 &
#
# Results: benchmarks/results/quality_matrix_<dataset>.{md,json,png} (SimCLR rows) and
# quality_matrix_<dataset>_others.* (BYOL and SimSiam, none vs ADIOS).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -f .venv/bin/activate ] && source .venv/bin/activate
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
SEEDS=(${MATRIX_SEEDS:-0 1 2})
DATASETS=(${MATRIX_DATASETS:-shapes32_shortcut shapes32})
# The budget of each dataset (the calibrations in benchmarks/results/calibration*.md).
# cifar10: a CIFAR-10 image folder (train/<class>/*.jpg, test/<class>/*.jpg) at
# data/cifar10 (a link is enough), every training image, solo-learn's CIFAR
# augmentation, 5 epochs of 195 steps at batch 256 (calibration_cifar10.md).
settings_for() {  # settings_for DATASET: the quality.py flags of its budget
  case "$1" in
    cifar10)
      echo --dataset=folder:data/cifar10 --epochs=5 --batch_size=256 --probe_epochs=50 \
        --set=augmentation=cifar10_solo_learn,learning_rate=0.004,monitor_every=1 ;;
    *)
      echo --dataset="$1" --num_train_images=10000 --num_eval_images=1000 --epochs=20 \
        --batch_size=128 --probe_epochs=50 --set=monitor_every=4 ;;
  esac
}
if [[ " ${DATASETS[*]} " == *" cifar10 "* ]] && [ ! -d data/cifar10/train ]; then
  echo "cifar10 needs a CIFAR-10 image folder at data/cifar10 (train/<class>/*.jpg, test/<class>/*.jpg)" >&2
  exit 1
fi
# Finished runs are committed as one JSON each under benchmarks/results/matrix/<dataset>/
# (runs/ is not part of the repository). The work folder's results/ is a link to that
# folder, so each run's JSON lands in the repository the moment the run ends (a session
# that stops mid-matrix loses at most the run in progress), and a fresh checkout resumes
# the matrix where the last one stopped.
link_results() {
  local results="runs/matrix/$1/results" target="benchmarks/results/matrix/$1"
  mkdir -p "runs/matrix/$1" "$target"
  if [ -d "$results" ] && [ ! -L "$results" ]; then  # a folder from an older version of this script
    cp -n "$results"/*.json "$target/" 2>/dev/null || true
    rm -r "$results"
  fi
  ln -sfn "$ROOT/$target" "$results"
}
# A run longer than a work session (an ADIOS run on CIFAR-10 takes about 3 CPU hours here) can be
# parked: MATRIX_PARK=1 copies every unfinished run folder to benchmarks/results/matrix/<dataset>/parked/,
# to be committed; the next run of this script, in any checkout, puts parked runs back under runs/
# first, and quality.py resumes them there (benchmarks/parking.sh).
source benchmarks/parking.sh
if [ -n "${MATRIX_PARK:-}" ]; then
  for dataset in "${DATASETS[@]}"; do park_runs "runs/matrix/$dataset" "benchmarks/results/matrix/$dataset"; done
  exit 0
fi
for dataset in "${DATASETS[@]}"; do
  link_results "$dataset"
  restore_parked "runs/matrix/$dataset" "benchmarks/results/matrix/$dataset"
done
simclr() {  # simclr DATASET MASKINGS SEEDS TAG
  python benchmarks/quality.py $(settings_for "$1") --objectives=simclr \
    --maskings="$2" --seeds="$3" --work_dir="runs/matrix/$1" --tag="$4" --mask_row=simclr_adios || true
}
all_seeds=$(IFS=,; echo "${SEEDS[*]}")
if [ "${DATASETS[*]}" = "cifar10" ]; then
  # Natural images, the study's minimum first: the headline pair over every seed, the
  # other SimCLR rows and BYOL none vs ADIOS (the paper's STL-10 objective) at the first
  # seed, then the other rows' remaining seeds.
  simclr cifar10 none,adios "$all_seeds" matrix_cifar10_headline
  simclr cifar10 none,adios,adios_s,random,block "${SEEDS[0]}" matrix_cifar10
  python benchmarks/quality.py $(settings_for cifar10) --objectives=byol --maskings=none,adios \
    --seeds="${SEEDS[0]}" --work_dir=runs/matrix/cifar10 --tag=matrix_cifar10_others \
    --mask_row=byol_adios || true
  simclr cifar10 none,adios,adios_s,random,block "$all_seeds" matrix_cifar10
  exit 0
fi
for dataset in "${DATASETS[@]}"; do
  simclr "$dataset" none,adios,adios_s,random,block "${SEEDS[0]}" "matrix_$dataset"
done
for dataset in "${DATASETS[@]}"; do
  simclr "$dataset" none,adios "$all_seeds" "matrix_${dataset}_headline"
done
others() {  # others DATASET: BYOL and SimSiam, none vs ADIOS, first seed
  python benchmarks/quality.py $(settings_for "$1") --objectives=byol,simsiam \
    --maskings=none,adios --seeds="${SEEDS[0]}" \
    --work_dir="runs/matrix/$1" --tag="matrix_${1}_others" --mask_row=byol_adios || true
}
others "${DATASETS[0]}"
for dataset in "${DATASETS[@]}"; do
  simclr "$dataset" none,adios,adios_s,random,block "$all_seeds" "matrix_$dataset"
done
for dataset in "${DATASETS[@]:1}"; do others "$dataset"; done
