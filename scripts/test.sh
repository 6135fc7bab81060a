#!/usr/bin/env bash
# Sets up ./.venv with every backend and runs the whole test suite on the
# TensorFlow, JAX and PyTorch backends (the cross-backend and multi-process
# tests, which start their own subprocesses, run once).
# Extra arguments are passed to pytest.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh" "all" || exit 1
set +e  # setup_env.sh sets -e: a failing backend must not skip the others and the summary
cd "$ROOT"
REPORTS="$(mktemp -d)"
# One JAX compilation cache for the whole run (pytest workers and the subprocesses the tests
# start): many tests compile the same tiny programs, and a cached executable is the one XLA
# would compile again. A size limit turns on JAX's file lock, so two workers never read a
# half-written entry. (Measured cold, tests/models/test_adios.py + test_mixed_precision.py
# on JAX: 543 vs 661 CPU s; the non-finite guard tests 126 vs 194 CPU s.)
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$REPORTS/jax_cache}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}"
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="${JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES:-0}"
export JAX_COMPILATION_CACHE_MAX_SIZE="${JAX_COMPILATION_CACHE_MAX_SIZE:-4000000000}"
status=0
run() {  # name, pytest args...
  local name="$1"; shift
  echo "=== pytest [$name]"
  python -m pytest -p no:cacheprovider --junitxml="$REPORTS/$name.xml" "$@"
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status=1; fi
}
ONCE=(tests/cross_backend tests/distribute tests/benchmarks tests/test_cli.py tests/test_examples.py tests/test_guides.py tests/test_wheel.py)
IGNORE=()
for path in "${ONCE[@]}"; do IGNORE+=("--ignore=$path"); done
# Tests marked backend_independent (tf.data and NumPy only, no Keras tensor) run in the
# TensorFlow group alone: on the other backends they would run the same code again.
for backend in tensorflow jax torch; do
  ONLY=()
  [ "$backend" != tensorflow ] && ONLY=(-m "not backend_independent")
  KERAS_BACKEND=$backend run "$backend" -n "${PYTEST_WORKERS:-2}" "${ONLY[@]}" tests "${IGNORE[@]}" "$@"
done
EXISTING=()
for path in "${ONCE[@]}"; do [ -e "$path" ] && EXISTING+=("$path"); done
if [ ${#EXISTING[@]} -gt 0 ]; then
  # --dist loadscope: each module's tests go to one worker, so a module-scoped fixture
  # (a distributed run, a benchmark's quick run, the built wheel) runs once, not once per worker.
  KERAS_BACKEND=tensorflow run "once" -n "${PYTEST_WORKERS:-2}" --dist loadscope "${EXISTING[@]}" "$@"
fi
python - "$REPORTS" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.xml")):
    root = ET.parse(path).getroot()
    for suite in root.iter("testsuite"):
        tests, fail = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skip = int(suite.get("skipped", 0))
        passed += tests - fail - skip; failed += fail; skipped += skip
        print(f"  {path.rsplit('/', 1)[-1][:-4]:>10}: {tests - fail - skip} passed, {fail} failed, {skip} skipped")
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
