"""Checksummed model directories: what was saved is what is loaded, or one line says why not.

:func:`write_manifest` stores the SHA-256 and size of every file of a directory in
``manifest.json``; :func:`verify` checks them all; :func:`read_verified_bytes` reads one
file for a loader and refuses it unless its size and checksum match the manifest.

Reading is safe on a hostile or damaged directory: every file is ``lstat``-ed first and must
be a regular file directly inside the directory (no symbolic link, FIFO, device, socket or
sub-path), no larger than its manifest says (and than ``max_bytes``); it is opened with
``O_NOFOLLOW | O_NONBLOCK`` and checked again on the open descriptor, so a FIFO or a link to
``/dev/urandom`` never blocks or floods a load.

The manifest guards against damage and mix-ups (a flipped byte, a truncated file, a file
from another model), not against someone who rewrites the manifest too.

Examples
--------
>>> from scotm import _manifest
>>> _manifest.write_manifest("model")  # doctest: +SKIP
>>> meta = json.loads(_manifest.read_verified_bytes("model", "scotm.json"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ._errors import ScotmInputError

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "scotm-manifest"
MANIFEST_VERSION = 1
#: the manifest itself is small (names, sizes, digests)
MAX_MANIFEST_BYTES = 1 << 20
#: no file of a model is read past this size (weights of a very large model fit)
MAX_FILE_BYTES = 1 << 34
_CHUNK = 1 << 20


def _fail(directory: Path, what: str) -> ScotmInputError:
    return ScotmInputError(
        f"saved model at {directory} is damaged or not a scotm model: {what}; "
        "save it again (or copy the whole directory again)"
    )


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _chunks(directory: Path, name: str, max_bytes: int) -> Iterator[bytes]:
    """Yield the bytes of regular file ``directory/name`` safely (see the module docstring)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise _fail(directory, f"file name {name!r} is not a plain name inside the directory")
    path = directory / name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise _fail(directory, f"{name} is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise _fail(directory, f"{name} is {_kind(st.st_mode)}, not a regular file")
    if st.st_size > max_bytes:
        raise _fail(directory, f"{name} has {st.st_size} bytes, more than the {max_bytes} expected")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _fail(directory, f"{name} cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        fst = os.fstat(fh.fileno())
        if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
            raise _fail(directory, f"{name} changed while it was opened")
        left = max_bytes + 1
        while left > 0:
            block = fh.read(min(_CHUNK, left))
            if not block:
                return
            left -= len(block)
            if left <= 0:
                raise _fail(directory, f"{name} grew past {max_bytes} bytes while being read")
            yield block


def _digest(directory: Path, name: str, max_bytes: int) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    for block in _chunks(directory, name, max_bytes):
        h.update(block)
        size += len(block)
    return h.hexdigest(), size


def manifest_entries(
    directory: str | os.PathLike, files: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """SHA-256 and size of each file (default: every regular file but the manifest).

    Examples
    --------
    >>> manifest_entries("model", ["scotm.json"])  # doctest: +SKIP
    {'scotm.json': {'sha256': '9f2c...', 'size': 5120}}
    """
    directory = Path(directory)
    if files is None:
        files = sorted(
            p.name
            for p in directory.iterdir()
            if p.name != MANIFEST_FILE and p.is_file() and not p.is_symlink()
        )
    out = {}
    for name in files:
        digest, size = _digest(directory, name, MAX_FILE_BYTES)
        out[name] = {"sha256": digest, "size": size}
    return out


def write_manifest(
    directory: str | os.PathLike, files: Iterable[str] | None = None
) -> dict[str, Any]:
    """Write ``directory/manifest.json`` listing each file's SHA-256 and size; return it.

    Call it last, inside the temporary directory of an atomic save, after every file is
    written. ``files`` defaults to every regular file in the directory.

    Examples
    --------
    >>> from scotm._io import atomic_dir
    >>> with atomic_dir("model") as tmp:  # doctest: +SKIP
    ...     (tmp / "scotm.json").write_text("{}")
    ...     write_manifest(tmp)
    """
    directory = Path(directory)
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "algorithm": "sha256",
        "files": manifest_entries(directory, files),
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """Read and check the structure of ``directory/manifest.json``.

    Examples
    --------
    >>> sorted(read_manifest("model")["files"])  # doctest: +SKIP
    ['scotm.json', 'transport.npz', 'weights.safetensors']
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ScotmInputError(f"{directory} is not a directory holding a saved scotm model")
    if not os.path.lexists(directory / MANIFEST_FILE):
        raise _fail(directory, f"it has no {MANIFEST_FILE} (saved by an older scotm?)")
    raw = b"".join(_chunks(directory, MANIFEST_FILE, MAX_MANIFEST_BYTES))
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _fail(directory, f"{MANIFEST_FILE} is not valid JSON") from None
    ok = (
        isinstance(manifest, dict)
        and manifest.get("format") == MANIFEST_FORMAT
        and manifest.get("algorithm") == "sha256"
        and isinstance(manifest.get("files"), dict)
    )
    if not ok:
        raise _fail(directory, f"{MANIFEST_FILE} is not a scotm manifest")
    if manifest.get("version") != MANIFEST_VERSION:
        raise _fail(directory, f"{MANIFEST_FILE} has version {manifest.get('version')!r}")
    for name, entry in manifest["files"].items():
        good = (
            isinstance(entry, dict)
            and isinstance(entry.get("size"), int)
            and not isinstance(entry.get("size"), bool)
            and 0 <= entry["size"] <= MAX_FILE_BYTES
            and isinstance(entry.get("sha256"), str)
            and len(entry["sha256"]) == 64
        )
        if not good:
            raise _fail(directory, f"{MANIFEST_FILE} has a malformed entry for {name!r}")
    return manifest


def _entry(directory: Path, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    entry = manifest["files"].get(name)
    if entry is None:
        raise _fail(directory, f"{name} is not listed in {MANIFEST_FILE}")
    return entry


def _mismatch(directory: Path, name: str, entry: dict, digest: str, size: int) -> None:
    if size != entry["size"]:
        raise _fail(directory, f"{name} has {size} bytes, the manifest says {entry['size']}")
    if digest != entry["sha256"]:
        raise _fail(
            directory, f"{name} does not match its checksum (changed, or from another model)"
        )


def verify(
    directory: str | os.PathLike,
    manifest: dict[str, Any] | None = None,
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Check the size and SHA-256 of every file the manifest lists; return the manifest.

    ``required`` names files that must be listed (e.g. the weights), so that a manifest
    with an entry removed is refused too.

    Examples
    --------
    >>> verify("model", required=["scotm.json"])  # doctest: +SKIP
    """
    directory = Path(directory)
    manifest = read_manifest(directory) if manifest is None else manifest
    for name in required:
        _entry(directory, name, manifest)
    for name, entry in sorted(manifest["files"].items()):
        digest, size = _digest(directory, name, entry["size"])
        _mismatch(directory, name, entry, digest, size)
    return manifest


def read_verified_bytes(
    directory: str | os.PathLike,
    name: str,
    manifest: dict[str, Any] | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> bytes:
    """The bytes of ``directory/name``, refused unless they match the manifest's checksum.

    Read with :func:`read_manifest` once and pass ``manifest`` for each file of a load.

    Examples
    --------
    >>> import io, numpy as np
    >>> m = read_manifest("model")  # doctest: +SKIP
    >>> npz = np.load(io.BytesIO(read_verified_bytes("model", "transport.npz", m)))  # doctest: +SKIP
    """
    directory = Path(directory)
    manifest = read_manifest(directory) if manifest is None else manifest
    entry = _entry(directory, name, manifest)
    limit = min(entry["size"], max_bytes)
    if entry["size"] > max_bytes:
        raise _fail(directory, f"{name} has {entry['size']} bytes, more than {max_bytes} allowed")
    data = b"".join(_chunks(directory, name, limit))
    _mismatch(directory, name, entry, hashlib.sha256(data).hexdigest(), len(data))
    return data


def read_safe_bytes(
    directory: str | os.PathLike, name: str, max_bytes: int = MAX_FILE_BYTES
) -> bytes:
    """The bytes of ``directory/name`` read as safely as a verified file, with no checksum.

    For directories saved before manifests existed: only a regular file directly inside the
    directory, no larger than ``max_bytes``, is read (no FIFO, device or symbolic link).

    Examples
    --------
    >>> meta = json.loads(read_safe_bytes("old_model", "scotm.json"))  # doctest: +SKIP
    """
    return b"".join(_chunks(Path(directory), name, max_bytes))
