#!/usr/bin/env bash
# Run one peer method on scotm's leave-one-cell-type-out folds and score it with scotm's pinned
# protocol (EVALUATION.md). run_trvae.sh, run_scgen.sh, run_biolord.sh and run_cpa.sh call this.
#
#   benchmarks/peers/run_peer.sh PEER [--out DIR] [--results DIR] [--epochs N] [--seed N] [--jobs N] [HOLDOUT ...]
#
# 1. setup:  the peer's own venv (PEER/setup.sh), skipped when it is there
# 2. export: scotm.pp.prepare(scotm.datasets.kang()) -> DIR/../kang_prepared.h5ad (scotm's venv)
# 3. run:    PEER/run_PEER.py in the peer's venv under `nice -n 19`, one thread per process,
#            writes DIR/predictions/PEER/<cell type>.h5ad and .json (timings, settings); folds
#            already done with the same settings are skipped, so an interrupted run resumes
# 4. score:  score_predictions.py in scotm's venv -> RESULTS/metrics_PEER.csv and
#            RESULTS/timings_PEER.json (every fold predicted so far, or the HOLDOUTs given)
#
# --out      predictions and logs (default /tmp/scotm_peers/PEER; never inside the repo)
# --results  where the small result files go (default benchmarks/peers/results)
# --epochs   training epochs; default: the package's own default (see PEER/run_PEER.py)
# --seed     the peer's seed (default 0); seed N > 0 writes to DIR_seedN and RESULTS/seedN/,
#            so it never replaces seed 0's files (peer_table.py reads every seed found)
# --jobs     folds run in this many single-thread processes at once (default 1)
# HOLDOUT    cell types to hold out (default: all 8)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
peer="${1:?usage: run_peer.sh PEER [options] [HOLDOUT ...]}"
shift
[[ -f "$here/$peer/run_$peer.py" ]] || { echo "unknown peer $peer" >&2; exit 2; }
out=/tmp/scotm_peers/$peer
results="$here/results"
extra=()
jobs=1
seed=0
holdouts=()
while (($#)); do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --results) results="$2"; shift 2 ;;
        --epochs) extra+=(--epochs "$2"); shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        -h|--help) sed -n 2,21p "${BASH_SOURCE[0]}"; exit 0 ;;
        *) holdouts+=("$1"); shift ;;
    esac
done
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "--seed takes a whole number, not '$seed'" >&2; exit 2; }
if ((seed != 0)); then
    out="${out}_seed$seed"
    results="$results/seed$seed"
fi
extra+=(--seed "$seed")
# scotm's venv: SCOTM_PYTHON, else the checkout's .venv, else (in a git worktree) the main
# checkout's .venv, with this checkout's src/ first on the path
our_python="${SCOTM_PYTHON:-$repo/.venv/bin/python}"
if [[ ! -x "$our_python" ]]; then
    main_checkout="$(dirname "$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir)")"
    our_python="$main_checkout/.venv/bin/python"
fi
ours() { PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" "$our_python" "$@"; }
venv="$here/$peer/.venv"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"

echo "== setup $peer venv"
bash "$here/$peer/setup.sh"

data="$(dirname "$out")/kang_prepared.h5ad"
echo "== export preprocessed Kang -> $data"
[[ -f "$data" ]] || ours "$here/export_kang.py" --out "$data"

if ((${#holdouts[@]} == 0)); then
    mapfile -t holdouts < <("$venv/bin/python" -c "
import anndata as ad, sys
obs = ad.read_h5ad(sys.argv[1], backed='r').obs
print('\n'.join(obs['cell_type'].astype(str).value_counts().index))" "$data")
fi

echo "== run $peer on ${#holdouts[@]} fold(s), $jobs process(es); logs in $out/logs"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
pids=()
for ((k = 0; k < jobs && k < ${#holdouts[@]}; k++)); do
    mine=()
    for ((i = k; i < ${#holdouts[@]}; i += jobs)); do mine+=("${holdouts[i]}"); done
    # in $out: some peers write files (checkpoints, histories) into the working directory
    (cd "$out" && exec nice -n 19 "$venv/bin/python" "$here/$peer/run_$peer.py" --data "$data" \
        --out "$out" --threads 1 "${extra[@]}" "${mine[@]}") >"$out/logs/worker$k.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
grep -h '^\[' "$out"/logs/worker*.log || true
((status == 0)) || { echo "a $peer process failed; see $out/logs" >&2; exit 1; }

echo "== score with scotm.metrics.evaluate -> $results"
ours "$here/score_predictions.py" --pred-dir "$out/predictions/$peer" \
    --out "$results/metrics_$peer.csv"
