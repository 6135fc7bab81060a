#!/usr/bin/env bash
# Why do SimSiam + ADIOS's masks stay uniform (matrix, shapes32_shortcut, seed 0: every mask
# covers 0.25 of every image from epoch 4 on, confidence 0.28-0.31, where 0.25 is uniform),
# when SimCLR's and BYOL's commit at the same settings? SimSiam's per-mask term is a mean of
# negative cosines (a range of 2), and the UNet masks both views, so the sparsity penalty
# counts twice (11.3 at uniform masks against SimCLR's 5.7). Hypothesis: the penalty holds
# the masks. This runs SimSiam + ADIOS for 4 epochs (312 steps, mask quality monitored every
# epoch) with alpha_s = 0 (no penalty) and 0.2 (the authors' ImageNet-100-S SimSiam recipe),
# against the matrix run's first 4 epochs (alpha_s = 1); then the terms of the authors'
# ImageNet-100-S SimSiam recipe ("recipe": alpha_s 0.2, alpha_entropy 0.286, no symmetric masked
# terms), masker learning rate unchanged. Resumable: one JSON per run under
# benchmarks/results/simsiam_sparsity/<variant>/; tables quality_simsiam_<variant>.md there.
#
#   nohup nice -n 10 bash benchmarks/run_simsiam_sparsity.sh > runs/simsiam_sparsity.log 2>&1 &
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -f .venv/bin/activate ] && source .venv/bin/activate
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3
OUT=benchmarks/results/simsiam_sparsity
VARIANTS=(${SIMSIAM_VARIANTS:-alpha_0:sparsity_weight=0 alpha_0.2:sparsity_weight=0.2
  recipe:sparsity_weight=0.2,entropy_weight=0.286,simsiam_symmetry_mask=false})
for variant in "${VARIANTS[@]}"; do
  name="${variant%%:*}" settings="${variant#*:}"
  work="runs/simsiam_sparsity/$name"
  mkdir -p "$work" "$OUT/$name"
  ln -sfn "$ROOT/$OUT/$name" "$work/results"  # each run's JSON lands in the repository
  python benchmarks/quality.py --num_train_images=10000 --num_eval_images=1000 --epochs=4 \
    --batch_size=128 --probe_epochs=50 --set=monitor_every=1,"$settings" \
    --dataset=shapes32_shortcut --objectives=simsiam --maskings=adios --seeds=0 \
    --work_dir="$work" --output_dir="$OUT" --tag="simsiam_$name" --mask_row=simsiam_adios || true
done
