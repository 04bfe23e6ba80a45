#!/usr/bin/env bash
# Run the peer scpram (PyPI scpram==0.0.3) on scotm's folds and score it (run_peer.sh says how;
# scpram/run_scpram.py what).
#   benchmarks/peers/run_scpram.sh [--out DIR] [--results DIR] [--epochs N] [--jobs N] [HOLDOUT ...]
exec "$(dirname "${BASH_SOURCE[0]}")/run_peer.sh" scpram "$@"
