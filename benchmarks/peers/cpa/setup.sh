#!/usr/bin/env bash
# Create CPA's own virtual environment in benchmarks/peers/cpa/.venv (gitignored):
# the working set in requirements.txt (its header says what is pinned and why), then
# cpa-tools==0.8.8 with --no-deps --ignore-requires-python (see the header).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${CPA_VENV:-$here/.venv}"
python="${PYTHON:-python3.11}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import cpa, torch" 2>/dev/null; then
    echo "CPA venv ready: $venv"
    exit 0
fi
"$python" -m venv "$venv"
# torch==2.13.0 first, alone: it must resolve to the CPU wheel on local disk (pip's find-links);
# an unpinned torch would pull a multi-GB CUDA build.
quiet() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }
"$venv/bin/python" -m pip install --quiet torch==2.13.0 2> >(quiet)
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" 2> >(quiet)
"$venv/bin/python" -m pip install --quiet --no-deps --ignore-requires-python cpa-tools==0.8.8 2> >(quiet)
# ray 2.9 imports pkg_resources._vendor, gone after setuptools 70; torch 2.13 declares
# setuptools>=77.0.3 (not needed at run time), so this one goes in last, on its own
"$venv/bin/python" -m pip install --quiet --no-deps setuptools==70.0.0 2> >(quiet)
"$venv/bin/python" -c "import torch, scvi, cpa; print('cpa ok; torch', torch.__version__, '| scvi-tools', scvi.__version__)" 2>&1 | grep -v Warning | tail -1
