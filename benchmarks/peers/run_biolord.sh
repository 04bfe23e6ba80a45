#!/usr/bin/env bash
# Run the peer biolord on scotm's folds and score it (run_peer.sh says how; biolord/run_biolord.py what).
#   benchmarks/peers/run_biolord.sh [--out DIR] [--results DIR] [--epochs N] [--jobs N] [HOLDOUT ...]
exec "$(dirname "${BASH_SOURCE[0]}")/run_peer.sh" biolord "$@"
