"""The one interface every prior shares, and the identity of a model on disk.

An embedder has a ``name``, a ``dim`` and ``embed(items) -> (n, dim) float32``. Subclasses of
:class:`Embedder` implement ``_compute`` (and ``_dim``); :meth:`Embedder.embed` adds input
checks and the on-disk cache (:mod:`scotm.priors.cache`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .._errors import ScotmInputError


@runtime_checkable
class EmbedderLike(Protocol):
    """Anything with ``name``, ``dim`` and ``embed(items) -> (n, dim)`` float32 array."""

    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, items: Sequence[str]) -> np.ndarray: ...


def check_items(items: Sequence[str], what: str = "items") -> list[str]:
    """``items`` as a list of strings; a lone string or a non-string element is refused."""
    if isinstance(items, str | bytes):
        raise ScotmInputError(f"{what} must be a list of strings, not one string: wrap it in [...]")
    out = list(items)
    bad = [x for x in out if not isinstance(x, str)]
    if bad:
        raise ScotmInputError(
            f"{what} must be strings; got {len(bad)} other values (e.g. {bad[0]!r} of type "
            f"{type(bad[0]).__name__}); drop missing values first"
        )
    return out


class Embedder:
    """Base class: a named model mapping strings to fixed-size float32 vectors.

    Subclasses set ``name``, implement ``_compute(items) -> np.ndarray`` and ``_dim()``, and
    give ``identity()``: a string that changes whenever the output could (model files,
    settings). ``cache_default`` decides whether :meth:`embed` uses the disk cache by default.
    """

    name: str = "embedder"
    cache_default: bool = True

    @property
    def dim(self) -> int:
        """Length of each embedding vector."""
        return int(self._dim())

    def _dim(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _compute(self, items: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def identity(self) -> str:
        """What the cache key is made of besides the items (name and settings by default)."""
        return self.name

    def embed(self, items: Sequence[str], *, cache: bool | None = None) -> np.ndarray:
        """Embed ``items``; returns a float32 array of shape ``(len(items), dim)``.

        Parameters
        ----------
        items
            Strings to embed (texts, SMILES, protein sequences, perturbation names).
        cache
            Reuse and store results under ``scotm.datasets.cache_dir() / "embeddings"``
            (default: ``cache_default`` of the embedder).
        """
        items = check_items(items)
        use_cache = self.cache_default if cache is None else cache
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        if use_cache:
            from .cache import cached_compute

            return cached_compute(self, items)
        return self._finish(self._compute(items), len(items))

    def _finish(self, out, n: int) -> np.ndarray:
        out = np.ascontiguousarray(np.asarray(out, dtype=np.float32))
        if out.ndim != 2 or out.shape[0] != n:  # pragma: no cover - a bug in a subclass
            raise RuntimeError(f"{self.name} returned shape {out.shape} for {n} items")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


_FINGERPRINTS: dict[tuple, str] = {}


def fingerprint_dir(path: str | os.PathLike) -> str:
    """SHA-256 over the relative paths and contents of every file under ``path``.

    The same model files give the same fingerprint wherever they are installed. The result
    is memoised per process by (path, size, mtime) of each file, so big weights are hashed
    once.

    Examples
    --------
    >>> from scotm.priors import default_text_model_path, fingerprint_dir
    >>> fingerprint_dir(default_text_model_path())[:12]  # doctest: +SKIP
    '3f1c0e5a9b2d'
    """
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    stat_key = (str(root.resolve()),) + tuple(
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    )
    if stat_key in _FINGERPRINTS:
        return _FINGERPRINTS[stat_key]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root).as_posix()).encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    digest = h.hexdigest()
    _FINGERPRINTS[stat_key] = digest
    return digest


def model_dir(path: str | os.PathLike, what: str, required: Sequence[str] = ("config.json",)):
    """``path`` as a Path to an existing model directory holding ``required`` files.

    Raises a one-line ScotmInputError naming the problem otherwise.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ScotmInputError(
            f"{what} model directory {p} does not exist; pass a local directory saved with "
            "save_pretrained (no hub downloads)"
        )
    if not p.is_dir():
        raise ScotmInputError(f"{what} model path {p} is a file; pass its directory")
    missing = [f for f in required if not (p / f).exists()]
    if missing:
        raise ScotmInputError(
            f"{what} model directory {p} has no {', '.join(missing)}; is it a model saved with "
            "save_pretrained?"
        )
    return p
