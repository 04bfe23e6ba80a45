#!/usr/bin/env bash
# Create scGen's own virtual environment in benchmarks/peers/scgen/.venv (gitignored):
# the working set in requirements.txt (its header says what is pinned and why), then
# scgen==2.1.0 with --no-deps.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SCGEN_VENV:-$here/.venv}"
. "$here/../venv.sh"
peer_ready scGen "$venv" "scgen, torch" && exit 0
peer_venv "$venv"
pip_in "$venv" --no-deps scgen==2.1.0
"$venv/bin/python" -c "import torch, scvi, scgen; print('scgen ok; torch', torch.__version__, '| scvi-tools', scvi.__version__)" 2>&1 | grep -v Warning | tail -1
