#!/usr/bin/env bash
# Run the peer scgen on scotm's folds and score it (run_peer.sh says how; scgen/run_scgen.py what).
#   benchmarks/peers/run_scgen.sh [--out DIR] [--results DIR] [--epochs N] [--jobs N] [HOLDOUT ...]
exec "$(dirname "${BASH_SOURCE[0]}")/run_peer.sh" scgen "$@"
