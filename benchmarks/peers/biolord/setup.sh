#!/usr/bin/env bash
# Create biolord's own virtual environment in benchmarks/peers/biolord/.venv (gitignored):
# the working set in requirements.txt (its header says what is pinned and why), then
# biolord==0.0.3 with --no-deps.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${BIOLORD_VENV:-$here/.venv}"
. "$here/../venv.sh"
peer_ready biolord "$venv" "biolord, torch" && exit 0
peer_venv "$venv"
pip_in "$venv" --no-deps biolord==0.0.3
"$venv/bin/python" -c "import torch, scvi, biolord; print('biolord ok; torch', torch.__version__, '| scvi-tools', scvi.__version__)" 2>&1 | grep -v Warning | tail -1
