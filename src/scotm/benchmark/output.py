"""A benchmark's output folder: complete or absent, never mixed, with collision-free names.

The run is built in a temporary sibling of ``out_dir`` and swapped into place only when it
is complete (:func:`scotm._io.atomic_dir`), so an interrupted run, or an interrupted rerun
with ``overwrite``, leaves the previous complete folder as it was. ``run.json`` records the
status: ``"running"`` while the temporary folder is built (what a crashed run leaves in the
sibling, removed by the next run), ``"complete"`` once every fold is scored.
``metrics.csv`` is written once, complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._errors import ScotmInputError
from .._io import atomic_dir, write_text

RUN_FILE = "run.json"


def safe_name(name: str) -> str:
    """A file name for a cell type: keep letters, digits and ' +-_.', replace the rest.

    Examples
    --------
    >>> safe_name("CD4 T/NK")
    'CD4 T_NK'
    """
    return "".join(ch if ch.isalnum() or ch in " +-_." else "_" for ch in str(name))


def file_names(names: Sequence[str]) -> dict[str, str]:
    """A distinct file name (no extension) for each name: :func:`safe_name` where that is
    unique, else the safe name plus ``-`` and 8 hex digits of the name's SHA-1.

    Examples
    --------
    >>> file_names(["B/plasma", "B_plasma", "T"])["T"]
    'T'
    >>> len(set(file_names(["B/plasma", "B_plasma"]).values()))
    2
    """
    safe = {n: safe_name(n) for n in names}
    taken: dict[str, list[str]] = {}
    for n, s in safe.items():
        taken.setdefault(s.casefold(), []).append(n)
    out = {}
    for n, s in safe.items():
        clash = len(taken[s.casefold()]) > 1 or not s.strip(" .")
        out[n] = f"{s}-{hashlib.sha1(str(n).encode()).hexdigest()[:8]}" if clash else s
    return out


def write_status(folder: Path, status: str, **info) -> None:
    """Write ``run.json`` (atomically) with ``status`` and ``info``."""
    record = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **info}
    write_text(json.dumps(record, indent=1, default=str) + "\n", folder / RUN_FILE)


def read_status(folder: str | os.PathLike) -> str | None:
    """The status ``run.json`` records in ``folder`` (None without one).

    Examples
    --------
    >>> read_status("scotm_out/run")  # doctest: +SKIP
    'complete'
    """
    try:
        return json.loads((Path(folder) / RUN_FILE).read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


@contextlib.contextmanager
def run_folder(out_dir: str | os.PathLike, overwrite: bool = False, **info) -> Iterator[Path]:
    """Yield the temporary folder to build a run in; it replaces ``out_dir`` when complete.

    Examples
    --------
    >>> with run_folder("scotm_out/run") as tmp:  # doctest: +SKIP
    ...     (tmp / "metrics.csv").write_text("...")
    """
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ScotmInputError(f"output folder {out} is a file; choose another argument out_dir")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        status = read_status(out) or "no run.json"
        raise ScotmInputError(
            f"output folder {out} is not empty (a previous run, {status}); choose another "
            "argument out_dir, or set argument overwrite to replace it as a whole"
        )
    with atomic_dir(out) as tmp:
        write_status(tmp, "running", **info)
        yield tmp
        write_status(tmp, "complete", **info)
