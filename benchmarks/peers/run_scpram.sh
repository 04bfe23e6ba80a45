#!/usr/bin/env bash
# Run the peer scPRAM (PyPI scpram==0.0.3) on scotm's leave-one-cell-type-out folds and score it
# with scotm's pinned protocol (EVALUATION.md).
#
#   benchmarks/peers/run_scpram.sh [--out DIR] [--results DIR] [--epochs N] [--jobs N] [HOLDOUT ...]
#
# 1. setup:  scPRAM's own venv (scpram/setup.sh), skipped when it is there
# 2. export: scotm.pp.prepare(scotm.datasets.kang()) -> DIR/kang_prepared.h5ad (scotm's venv)
# 3. run:    scpram/run_scpram.py in scPRAM's venv, one torch thread per process, writes
#            DIR/predictions/scpram/<cell type>.h5ad and .json (timings); folds already done
#            are skipped, so an interrupted run resumes
# 4. score:  score_predictions.py in scotm's venv -> RESULTS/metrics_scpram.csv and
#            RESULTS/timings_scpram.json
#
# --out      predictions and logs (default /tmp/scotm_peers/scpram; never inside the repo)
# --results  where the small result files go (default benchmarks/peers/results)
# --epochs   training epochs; default: scPRAM's own default (train_SCPRAM(epochs=100))
# --jobs     folds run in this many single-thread processes at once (default 1)
# HOLDOUT    cell types to hold out (default: all 8)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out=/tmp/scotm_peers/scpram
results="$here/results"
epochs=()
jobs=1
holdouts=()
while (($#)); do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --results) results="$2"; shift 2 ;;
        --epochs) epochs=(--epochs "$2"); shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        -h|--help) sed -n 2,20p "${BASH_SOURCE[0]}"; exit 0 ;;
        *) holdouts+=("$1"); shift ;;
    esac
done
our_python="${SCOTM_PYTHON:-$repo/.venv/bin/python}"
scpram_venv="${SCPRAM_VENV:-$here/scpram/.venv}"
mkdir -p "$out/logs"

echo "== setup scPRAM venv"
SCPRAM_VENV="$scpram_venv" bash "$here/scpram/setup.sh"

data="$out/kang_prepared.h5ad"
echo "== export preprocessed Kang -> $data"
[[ -f "$data" ]] || "$our_python" "$here/export_kang.py" --out "$data"

if ((${#holdouts[@]} == 0)); then
    mapfile -t holdouts < <("$scpram_venv/bin/python" -c "
import anndata as ad, sys
obs = ad.read_h5ad(sys.argv[1], backed='r').obs
print('\n'.join(obs['cell_type'].astype(str).value_counts().index))" "$data")
fi

echo "== run scPRAM on ${#holdouts[@]} fold(s), $jobs process(es); logs in $out/logs"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
pids=()
for ((k = 0; k < jobs && k < ${#holdouts[@]}; k++)); do
    mine=()
    for ((i = k; i < ${#holdouts[@]}; i += jobs)); do mine+=("${holdouts[i]}"); done
    "$scpram_venv/bin/python" "$here/scpram/run_scpram.py" --data "$data" --out "$out" \
        --threads 1 "${epochs[@]}" "${mine[@]}" >"$out/logs/worker$k.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
grep -h '^\[' "$out"/logs/worker*.log || true
((status == 0)) || { echo "a scPRAM process failed; see $out/logs" >&2; exit 1; }

echo "== score with scotm.metrics.evaluate -> $results"
"$our_python" "$here/score_predictions.py" --pred-dir "$out/predictions/scpram" \
    --out "$results/metrics_scpram.csv" "${holdouts[@]}"
