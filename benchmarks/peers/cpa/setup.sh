#!/usr/bin/env bash
# Create CPA's own virtual environment in benchmarks/peers/cpa/.venv (gitignored):
# the working set in requirements.txt (its header says what is pinned and why), then
# cpa-tools==0.8.8 with --no-deps --ignore-requires-python (see the header).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${CPA_VENV:-$here/.venv}"
. "$here/../venv.sh"
peer_ready CPA "$venv" "cpa, torch" && exit 0
peer_venv "$venv"
pip_in "$venv" --no-deps --ignore-requires-python cpa-tools==0.8.8
# ray 2.9 imports pkg_resources._vendor, gone after setuptools 70; torch 2.13 declares
# setuptools>=77.0.3 (not needed at run time), so this one goes in last, on its own
pip_in "$venv" --no-deps setuptools==70.0.0
"$venv/bin/python" -c "import torch, scvi, cpa; print('cpa ok; torch', torch.__version__, '| scvi-tools', scvi.__version__)" 2>&1 | grep -v Warning | tail -1
