"""Atomic, durable writes: a crash never leaves a half-written result, nor no result at all.

* Files: written to a temporary beside the target, fsync'd, renamed over it, and the
  directory fsync'd, so that after a power cut the path holds the old or the new file.
* Directories (a saved model): built in a temporary beside the target, every file and the
  folder fsync'd, then swapped with the old one in **one** ``renameat2(RENAME_EXCHANGE)``
  call on Linux, so there is no moment without a model at the path. Where the kernel or file
  system does not support the exchange, two renames are used (a short window without one).
* Leftovers of a killed writer (``.NAME.PID.XXXX.tmp``, ``.NAME.old-PID``, and the
  ``.NAME.XXXX.tmp`` of older versions) are removed by the next write to the same path,
  unless their process is still alive; :func:`leftovers` lists them.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # anndata only for the type: the CLI and crash tests import this fast
    import anndata as ad

logger = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}


def fsync_path(path: str | os.PathLike) -> None:
    """fsync a file or a directory (its entries) by path."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) * Path(path).is_dir())
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every regular file under ``root``, then every directory, deepest first."""
    dirs = []
    for here, _, files in os.walk(root):
        dirs.append(here)
        for name in files:
            p = os.path.join(here, name)
            if os.path.isfile(p) and not os.path.islink(p):
                fsync_path(p)
    for d in reversed(dirs):
        fsync_path(d)


def _libc_renameat2():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to load
        return None
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        return fn
    nr = _SYS_RENAMEAT2.get(os.uname().machine)
    if nr is None or not hasattr(libc, "syscall"):  # pragma: no cover - other platforms
        return None

    def via_syscall(a, old, b, new, flags):
        return libc.syscall(nr, a, old, b, new, flags)

    return via_syscall


_RENAMEAT2 = _libc_renameat2() if os.uname().sysname == "Linux" else None


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap two existing paths atomically; False where the system cannot (then nothing moved).

    Examples
    --------
    >>> exchange("model.new", "model")  # doctest: +SKIP
    True
    """
    if _RENAMEAT2 is None:
        return False
    res = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if res == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # the kernel or the file system lacks RENAME_EXCHANGE
    raise OSError(err, os.strerror(err), os.fspath(b))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(path: str | os.PathLike) -> list[Path]:
    """Temporaries that a killed writer of ``path`` left beside it (their writer is gone).

    Examples
    --------
    >>> leftovers("scotm_out/model")  # doctest: +SKIP
    [PosixPath('scotm_out/.model.4711.k2j3.tmp')]
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    name = re.escape(path.name)
    ours = re.compile(rf"^\.{name}\.(?:(\d+)\.[^.]+\.tmp|old-(\d+)|([^.]{{8}})\.tmp)$")
    found = []
    for p in path.parent.iterdir():
        m = ours.match(p.name)
        if m is None:
            continue
        pid = m.group(1) or m.group(2)
        if pid is None or not _pid_alive(int(pid)):
            found.append(p)
    return sorted(found)


def clean_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove :func:`leftovers` of ``path``; return what was removed (each logged)."""
    removed = []
    for p in leftovers(path):
        logger.warning("Removing %s, left by an interrupted write of %s", p, path)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        removed.append(p)
    return removed


def _prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; fsync and move it into place on success.

    Examples
    --------
    >>> with atomic_path("out.txt") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("done")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        fsync_path(tmp_path)
        os.replace(tmp_path, path)
        fsync_path(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it into place only on success.

    The new directory is fsync'd first; an existing one at ``path`` is exchanged with it in
    one atomic step (Linux ``renameat2``), so readers see the old or the new, never neither.

    Examples
    --------
    >>> with atomic_dir("model") as tmp:  # doctest: +SKIP
    ...     (tmp / "weights.bin").write_bytes(b"...")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        fsync_tree(tmp)
        if path.exists() or path.is_symlink():
            if not exchange(tmp, path):
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.replace(path, old)
                os.replace(tmp, path)
                tmp = old
            # tmp now holds the old directory
        else:
            os.replace(tmp, path)
        fsync_path(path.parent)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists() or tmp.is_symlink():
            tmp.unlink()


def input_file(path: str | os.PathLike, what: str = "--data") -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is a regular file, else one clear error.

    Cheap and import-light, so the CLI can fail on a wrong path before importing anndata.

    Examples
    --------
    >>> input_file("missing.h5ad")
    Traceback (most recent call last):
    ...
    scotm._errors.ScotmInputError: --data file missing.h5ad does not exist
    """
    from ._errors import ScotmInputError

    path = Path(path).expanduser()
    if not path.exists():
        raise ScotmInputError(f"{what} file {path} does not exist")
    if path.is_dir():
        raise ScotmInputError(f"{what} {path} is a directory, not an .h5ad file")
    if not path.is_file():
        raise ScotmInputError(f"{what} {path} is not a regular file")
    return path


def write_h5ad(adata: ad.AnnData, path: str | os.PathLike) -> None:
    """Write ``adata`` to ``path`` atomically.

    pandas 3 stores every text column (and obs/var names) as a ``StringArray``; anndata
    writes those only when ``allow_write_nullable_strings`` is on (files anndata < 0.11
    cannot read), else it raises. Under pandas < 3 nothing changes.
    """
    import anndata

    settings = getattr(anndata, "settings", None)
    allow = contextlib.nullcontext()
    if settings is not None and hasattr(settings, "allow_write_nullable_strings"):
        allow = settings.override(allow_write_nullable_strings=True)
    with atomic_path(path) as tmp, allow:
        adata.write_h5ad(tmp)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
