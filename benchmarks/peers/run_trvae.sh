#!/usr/bin/env bash
# Run the peer trvae on scotm's folds and score it (run_peer.sh says how; trvae/run_trvae.py what).
#   benchmarks/peers/run_trvae.sh [--out DIR] [--results DIR] [--epochs N] [--jobs N] [HOLDOUT ...]
exec "$(dirname "${BASH_SOURCE[0]}")/run_peer.sh" trvae "$@"
