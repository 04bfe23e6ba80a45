#!/usr/bin/env bash
# Create trVAE's own virtual environment in benchmarks/peers/trvae/.venv (gitignored):
# the working set in requirements.txt (its header says what is pinned and why), then
# scarches==0.6.1 with --no-deps.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${TRVAE_VENV:-$here/.venv}"
. "$here/../venv.sh"
peer_ready trVAE "$venv" "scarches, torch" && exit 0
peer_venv "$venv"
pip_in "$venv" --no-deps scarches==0.6.1
"$venv/bin/python" -c "import torch, scvi; from scarches.models import TRVAE; print('scarches ok; torch', torch.__version__, '| scvi-tools', scvi.__version__)" 2>&1 | grep -v "^WARNING:root\|^ captum"
