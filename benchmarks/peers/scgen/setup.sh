#!/usr/bin/env bash
# Create scGen's own virtual environment in benchmarks/peers/scgen/.venv (gitignored):
# the working set in requirements.txt (its header says what is pinned and why), then
# scgen==2.1.0 with --no-deps.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SCGEN_VENV:-$here/.venv}"
python="${PYTHON:-python3.11}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import scgen, torch" 2>/dev/null; then
    echo "scGen venv ready: $venv"
    exit 0
fi
"$python" -m venv "$venv"
# torch==2.13.0 first, alone: it must resolve to the CPU wheel on local disk (pip's find-links);
# an unpinned torch would pull a multi-GB CUDA build.
quiet() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }
"$venv/bin/python" -m pip install --quiet torch==2.13.0 2> >(quiet)
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" 2> >(quiet)
"$venv/bin/python" -m pip install --quiet --no-deps scgen==2.1.0 2> >(quiet)
"$venv/bin/python" -c "import torch, scvi, scgen; print('scgen ok; torch', torch.__version__, '| scvi-tools', scvi.__version__)" 2>&1 | grep -v Warning | tail -1
