#!/usr/bin/env bash
# The one-shot GPU check (issue 22 item 5): on one CUDA GPU, in under 8 minutes,
#   1. env      the GPU, driver, torch/CUDA versions, torchao (optional) -> the log
#   2. tests    the CUDA tests (every test that runs only where a CUDA device exists)
#   3. proj     `qopt bench --only projection` on CUDA (cold exact projections vs a sort)
#   4. step     `qopt bench --only optimizer_step,training_step` on CUDA (vs torchao PARQ
#               QuantOptimizer, quant_period 1 and 10, when torchao imports)
#   5. compile  torch.compile of a quantized training step (benchmarks/compile_check.py)
#   6. thru     `qopt bench --only throughput` on CUDA (MLP and ResNet-20 samples/s vs float)
# Stages 3, 4 and 6 write the CUDA block of BENCHMARKS.md (and BENCHMARKS.json) through
# `qopt bench`, which replaces only the `cuda` device block and keeps the CPU one.
#
# Robust by construction: `set -u`, no `set -e`; every stage runs under its own `timeout`, its
# exit status is logged, and a failing or timed-out stage never stops the next one. Everything
# goes to $LOG (default: gpu_check.log in the repository root; also copied to $OUT when that is
# set, e.g. by the device runner) and a one-line summary per stage at the end; the script exits
# 0 only when every stage passed.
#
# Usage:  bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root
#         DRY_RUN=1 bash benchmarks/gpu_check.sh  # anywhere: smoke mode on CPU (quick sizes,
#                                                 # results in a temporary directory, the
#                                                 # CUDA-only stages reported as skipped)
# Budget (seconds, per stage; total 435 s < 8 min): env 15, tests 100, proj 90, step 90,
# compile 80, thru 60. Override one with e.g. T_TESTS=150. A stage that runs out of time is
# killed (SIGTERM, then SIGKILL 10 s later; `qopt bench` keeps the rows of finished units).
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
DRY_RUN="${DRY_RUN:-0}"
PY="${PYTHON:-python}"
T_ENV="${T_ENV:-15}"; T_TESTS="${T_TESTS:-100}"; T_PROJ="${T_PROJ:-90}"
T_STEP="${T_STEP:-90}"; T_COMPILE="${T_COMPILE:-80}"; T_THRU="${T_THRU:-60}"

if [ "$DRY_RUN" = "1" ]; then
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
    MD="$WORK/BENCHMARKS.md"
    QUICK="--quick"
    LOG="${LOG:-$WORK/gpu_check.log}"
else
    MD="$ROOT/BENCHMARKS.md"
    QUICK=""
    LOG="${LOG:-$ROOT/gpu_check.log}"
fi
: > "$LOG"
SUMMARY=()
FAILED=0
START=$(date +%s)

log() { printf '%s\n' "$*" | tee -a "$LOG"; }

# stage NAME SECONDS CMD...: run CMD under timeout, log its output and status, never abort
stage() {
    local name="$1" secs="$2"; shift 2
    local t0 t1 rc
    t0=$(date +%s)
    log ""
    log "=== [$name] (limit ${secs}s) $(date -u '+%H:%M:%S UTC'): $*"
    timeout --kill-after=10 "$secs" "$@" >> "$LOG" 2>&1
    rc=$?
    t1=$(date +%s)
    local what="ok"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then what="TIMEOUT"; elif [ "$rc" -ne 0 ]; then
        what="FAILED"; fi
    [ "$what" = "ok" ] || FAILED=$((FAILED + 1))
    SUMMARY+=("$(printf '%-8s %-7s rc=%-3s %4ss' "$name" "$what" "$rc" "$((t1 - t0))")")
    log "=== [$name] $what (rc=$rc, $((t1 - t0)) s)"
}

skip() {
    SUMMARY+=("$(printf '%-8s %-7s %s' "$1" "skipped" "$2")")
    log ""
    log "=== [$1] skipped: $2"
}

HAS_CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
log "gpu_check: $(date -u '+%Y-%m-%d %H:%M UTC') root=$ROOT dry_run=$DRY_RUN cuda=$HAS_CUDA"
log "gpu_check: results -> $MD, log -> $LOG"
if [ "$HAS_CUDA" != "1" ] && [ "$DRY_RUN" != "1" ]; then
    log "gpu_check: no CUDA device visible; run with DRY_RUN=1 for the CPU smoke mode"
fi

# 1. environment
stage env "$T_ENV" bash -c "nvidia-smi 2>&1 || echo 'nvidia-smi: not available'; uptime; \
  $PY - <<'EOF'
import torch
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available',
      torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print('device', p.name, round(p.total_memory / 2**30, 1), 'GiB', 'cc', p.major, p.minor)
try:
    import torchao
    import torchao.prototype.parq  # noqa: F401
    print('torchao', torchao.__version__, '(PARQ rows will run)')
except Exception as exc:  # optional extra
    print('torchao: not importable, its rows are skipped:', exc)
EOF"

# 2. the CUDA tests (on CPU they skip: the dry run checks that they collect and skip cleanly)
stage tests "$T_TESTS" "$PY" -m pytest -q -p no:cacheprovider -x \
    tests/qopt/test_projection_cuda.py tests/qopt/test_contracts.py \
    tests/qopt/test_projection_batched.py tests/qopt/test_nn_quant_relu.py \
    tests/qopt/test_uniq.py -k "cuda"

# 3.-4. projection and step benchmarks (the CUDA block of BENCHMARKS.md when on a GPU)
stage proj "$T_PROJ" "$PY" -m qopt bench $QUICK --only projection --out "$MD" --no-figures
stage step "$T_STEP" "$PY" -m qopt bench $QUICK --only optimizer_step,training_step \
    --out "$MD" --no-figures

# 5. torch.compile of a quantized training step
if [ "$HAS_CUDA" = "1" ]; then
    stage compile "$T_COMPILE" "$PY" -m benchmarks.compile_check --device cuda \
        --json "$(dirname "$MD")/compile_check.json"
elif [ "$DRY_RUN" = "1" ]; then
    stage compile "$T_COMPILE" "$PY" -m benchmarks.compile_check --quick --device cpu \
        --json "$(dirname "$MD")/compile_check.json"
else
    skip compile "no CUDA device"
fi

# 6. a short training throughput (MLP, ResNet-20; float vs quantized)
stage thru "$T_THRU" "$PY" -m qopt bench $QUICK --only throughput --out "$MD" --no-figures

END=$(date +%s)
log ""
log "=== summary ($((END - START)) s in all; $FAILED stage(s) not ok)"
for line in "${SUMMARY[@]}"; do log "  $line"; done
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp "$LOG" "$OUT/" 2>/dev/null
    cp "$MD" "${MD%.md}.json" "$(dirname "$MD")/compile_check.json" "$OUT/" 2>/dev/null
fi
[ "$FAILED" -eq 0 ]
