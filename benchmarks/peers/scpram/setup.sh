#!/usr/bin/env bash
# Create scPRAM's own virtual environment in benchmarks/peers/scpram/.venv (gitignored).
# scpram==0.0.3 goes in with --no-deps: its declared pins (torch 1.13.1 with CUDA, jupyter, ...)
# are replaced by the working set in requirements.txt, whose header says what differs and why.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SCPRAM_VENV:-$here/.venv}"
. "$here/../venv.sh"
peer_ready scPRAM "$venv" "scpram, torch" && exit 0
peer_venv "$venv"
pip_in "$venv" --no-deps scpram==0.0.3
"$venv/bin/python" -c "import scpram, torch, scanpy, ot; print('scpram ok; torch', torch.__version__, '| scanpy', scanpy.__version__, '| POT', ot.__version__)"
