#!/usr/bin/env bash
# Create scPRAM's own virtual environment in benchmarks/peers/scpram/.venv (gitignored).
# scpram==0.0.3 goes in with --no-deps: its declared pins (torch 1.13.1 with CUDA, jupyter, ...)
# are replaced by the working set in requirements.txt, whose header says what differs and why.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SCPRAM_VENV:-$here/.venv}"
python="${PYTHON:-python3.11}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import scpram, torch" 2>/dev/null; then
    echo "scPRAM venv ready: $venv"
    exit 0
fi
"$python" -m venv "$venv"
# torch==2.13.0 must resolve to the CPU wheel on local disk (pip's find-links); an unpinned torch
# would pull a multi-GB CUDA build.
quiet() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" 2> >(quiet)
"$venv/bin/python" -m pip install --quiet --no-deps scpram==0.0.3 2> >(quiet)
"$venv/bin/python" -c "import scpram, torch, scanpy, ot; print('scpram ok; torch', torch.__version__, '| scanpy', scanpy.__version__, '| POT', ot.__version__)"
