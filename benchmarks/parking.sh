# Parking of unfinished benchmarks/quality.py runs, sourced by run_matrix.sh and
# run_mask_lr_sweep.sh. A run longer than a work session (an ADIOS run on CIFAR-10 takes
# hours of CPU here) lives in a work folder under runs/, which is not part of the
# repository; parking copies what it needs to resume (its flags, metrics, the
# BackupAndRestore state of its last finished epoch, about 8 MB, and its CPU ledger) into
# the results folder, to be committed. The next run of the script, in any checkout, puts
# parked runs back first and quality.py resumes them there.

# park_runs WORK RESULTS: WORK/<row>/seed_<s> -> RESULTS/parked/<row>/seed_<s>, for every run
# with a backup (unfinished).
park_runs() {
  local work="$1" results="$2" run dest
  for run in "$work"/*/seed_*; do
    [ -d "$run/backup" ] || continue
    dest="$results/parked/${run#"$work"/}"
    rm -rf "$dest" && mkdir -p "$dest"
    cp -r "$run"/flags.json "$run"/backup "$dest"/
    cp "$run"/metrics.* "$dest"/ 2>/dev/null || true
    cp "$run".cpu_seconds.json "$dest".cpu_seconds.json 2>/dev/null || true  # quality.py's CpuLedger
    echo "parked $run -> $dest"
  done
}

# restore_parked WORK RESULTS: puts each parked run back under WORK unless its result
# (RESULTS/<row>__seed_<s>.json) is already there or WORK holds the run already.
restore_parked() {
  local work="$1" results="$2" parked="$2/parked" run name
  [ -d "$parked" ] || return 0
  for run in "$parked"/*/seed_*; do
    [ -d "$run" ] || continue
    name="${run#"$parked"/}"  # <row>/seed_<seed>
    # A run whose result is committed is finished: its parked state is stale.
    [ -f "$results/${name%%/*}__${name##*/}.json" ] && continue
    if [ ! -e "$work/$name" ]; then
      mkdir -p "$work/$(dirname "$name")"
      cp -r "$run" "$work/$name"
      cp "$run".cpu_seconds.json "$work/$name".cpu_seconds.json 2>/dev/null || true
      echo "restored the parked run $name ($work)"
    fi
  done
}
