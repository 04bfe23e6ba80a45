#!/usr/bin/env bash
# Run the peer cpa on scotm's folds and score it (run_peer.sh says how; cpa/run_cpa.py what).
#   benchmarks/peers/run_cpa.sh [--out DIR] [--results DIR] [--epochs N] [--jobs N] [HOLDOUT ...]
exec "$(dirname "${BASH_SOURCE[0]}")/run_peer.sh" cpa "$@"
