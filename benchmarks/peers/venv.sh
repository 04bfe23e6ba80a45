# Sourced by every <peer>/setup.sh: the steps each peer's own virtual environment shares.
#
#   . "$here/../venv.sh"
#   peer_ready LABEL VENV "IMPORTS" && exit 0  # the venv is there and imports IMPORTS
#   peer_venv VENV                             # else make it (a failed step stops the script)
#   pip_in "$venv" --no-deps PACKAGE==VERSION  # then the peer's own package, its own way
#
# peer_venv creates VENV with $PYTHON (default python3.11), then installs torch==2.13.0 alone
# first (it must resolve to the CPU wheel on local disk, pip's find-links; an unpinned torch
# would pull a multi-GB CUDA build), then the peer's requirements.txt (its header says what
# is pinned and why).

pip_in() {  # pip install --quiet into venv $1, without the find-links noise of this machine
    local venv="$1"
    shift
    "$venv/bin/python" -m pip install --quiet "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2 || true)
}

peer_ready() {  # kept apart from peer_venv: a function called in a condition runs without set -e
    local label="$1" venv="$2" imports="$3"
    [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import $imports" 2>/dev/null || return 1
    echo "$label venv ready: $venv"
}

peer_venv() {
    local venv="$1" here
    here="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"
    "${PYTHON:-python3.11}" -m venv "$venv"
    pip_in "$venv" torch==2.13.0
    pip_in "$venv" -r "$here/requirements.txt"
}
