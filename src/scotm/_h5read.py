"""Read a user's ``.h5ad`` so that every failure, a hang included, is one line.

:func:`read_h5ad` is public as :func:`scotm.validate.read_h5ad`. Before anndata reads the
file in this process, a child process reads it the same way (after walking every HDF5
object and attribute with h5py) under a time limit: a few corrupted bytes can make HDF5 loop
forever or crash the process (``benchmarks/fuzz.py`` finds both), and a child can be killed,
or die, where a thread cannot. The price is a second read of the file and a Python start
(see BENCHMARKS.md, "Reliability").
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anndata as ad

from ._errors import ScotmInputError
from ._io import input_file

#: seconds the HDF5 probe may take, plus one per 20 MB of file. Generous on purpose: the probe
#: starts a Python that imports anndata, which took over 30 s on a 2-core machine under a load
#: of 10, and a healthy file refused as corrupt is worse than a hang found late.
READ_TIMEOUT_S = 120.0

_PROBE = r"""
import os, sys, warnings
sys.path[:0] = [p for p in sys.argv[2].split(os.pathsep) if p]  # the caller's modules
try:
    import h5py
    def walk(name, obj):
        for k in obj.attrs:
            obj.attrs[k]
        if isinstance(obj, h5py.Dataset):
            obj.shape, obj.dtype  # data are read below, once, by anndata
    with h5py.File(sys.argv[1], "r") as f:
        for k in f.attrs:
            f.attrs[k]
        f.visititems(walk)
        has_x = "X" in f
    import anndata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anndata.read_h5ad(sys.argv[1])
    print("X" if has_x else "noX")
except BaseException as exc:
    msg = str(exc).strip().splitlines()
    sys.stderr.write((msg[0] if msg else type(exc).__name__)[:300])
    sys.exit(3)
"""

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def read_h5ad(
    path: str | os.PathLike,
    what: str = "--data",
    timeout: float | None = None,
    *,
    probe: bool = True,
):
    """Read a user's ``.h5ad``; any failure (hang included) is one :class:`ScotmInputError`.

    A separate process first reads the file (h5py's objects, then anndata) under a
    time limit (``timeout`` s, default 120 s + 1 s per 20 MB, or ``$SCOTM_READ_TIMEOUT``): a
    corrupted file that makes HDF5 loop forever or crash is reported instead.
    ``probe=False`` skips that second read (for files that are trusted, e.g. a checked cache).

    Examples
    --------
    >>> import scotm
    >>> adata = scotm.validate.read_h5ad("data.h5ad")  # doctest: +SKIP
    """
    path = input_file(path, what)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head != _HDF5_SIGNATURE:
        raise ScotmInputError(
            f"cannot read {what} {path} as an .h5ad file (not an HDF5 file); "
            "give an .h5ad written by anndata"
        )
    if probe:
        _probe(path, what, timeout)
    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # anndata raises many types for a damaged file
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise ScotmInputError(f"cannot read {what} {path} as an .h5ad file ({reason})") from exc
    if adata.X is None:
        raise ScotmInputError(
            f"{what} {path} has no X (expression matrix); write the file with adata.X set"
        )
    return adata


def _probe(path: Path, what: str, timeout: float | None) -> None:
    """Read ``path`` in a child process under a time limit; raise on any failure."""
    size = path.stat().st_size
    env = os.environ.get("SCOTM_READ_TIMEOUT")
    limit = timeout or (float(env) if env else READ_TIMEOUT_S + size / 20e6)
    try:
        probe = subprocess.run(
            [sys.executable, "-I", "-c", _PROBE, str(path), os.pathsep.join(sys.path)],
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired as exc:
        raise ScotmInputError(
            f"reading {what} {path} did not finish in {limit:.0f} s: its HDF5 structure is "
            "probably corrupted; re-export or re-download the file"
        ) from exc
    if probe.returncode < 0:
        raise ScotmInputError(
            f"cannot read {what} {path} as an .h5ad file (reading it crashed with signal "
            f"{-probe.returncode}: the file is corrupted); re-export or re-download it"
        )
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1:] or [f"exit {probe.returncode}"]
        raise ScotmInputError(f"cannot read {what} {path} as an .h5ad file ({reason[0]})")
    if probe.stdout.strip() != "X":
        raise ScotmInputError(
            f"{what} {path} has no X (expression matrix); write the file with adata.X set"
        )
