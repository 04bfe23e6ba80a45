"""On-disk cache of embeddings, keyed by the model's identity and the input items.

A result is one ``.npy`` file under ``scotm.datasets.cache_dir() / "embeddings"``, written
atomically, so an interrupted run never leaves a half-written entry that later looks valid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import numpy as np

from .._io import atomic_path

logger = logging.getLogger(__name__)


def embeddings_dir() -> Path:
    """Where cached embeddings live: ``scotm.datasets.cache_dir() / "embeddings"``.

    Delete the folder to recompute everything; ``SCOTM_CACHE`` moves it.

    Examples
    --------
    >>> from scotm.priors import embeddings_dir
    >>> embeddings_dir().name  # doctest: +SKIP
    'embeddings'
    """
    from ..datasets import cache_dir

    path = cache_dir() / "embeddings"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(identity: str, items: list[str]) -> str:
    """Hex SHA-256 of the model identity and the exact list of items (order matters)."""
    h = hashlib.sha256()
    h.update(identity.encode())
    h.update(b"\0")
    h.update(json.dumps(items, ensure_ascii=False).encode())
    return h.hexdigest()


def cache_path(embedder, items: list[str]) -> Path:
    """The file that holds (or will hold) ``embedder``'s embedding of ``items``."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", embedder.name).strip("-")[:60] or "embedder"
    return embeddings_dir() / f"{slug}-{cache_key(embedder.identity(), items)[:32]}.npy"


def cached_compute(embedder, items: list[str]) -> np.ndarray:
    """``embedder._compute(items)``, read from the cache when present, stored when not."""
    path = cache_path(embedder, items)
    if path.exists():
        try:
            out = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable cached embedding %s (%s)", path, exc)
        else:
            if out.ndim == 2 and out.shape[0] == len(items) and out.dtype == np.float32:
                logger.debug("Embedding cache hit: %s", path.name)
                return out
            logger.warning("Ignoring cached embedding %s of shape %s", path, out.shape)
    out = embedder._finish(embedder._compute(items), len(items))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, out, allow_pickle=False)
    logger.debug("Embedding cached: %s", path.name)
    return out
