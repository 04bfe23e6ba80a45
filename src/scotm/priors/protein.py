"""Protein sequences: an ESM-style protein language model from a local directory."""

from __future__ import annotations

import os

from ._hf import TransformerEmbedder


class ProteinLM(TransformerEmbedder):
    """An ESM-style protein language model, mean-pooled over residues.

    Padding and special tokens (``<cls>``, ``<eos>``) are left out of the mean, as in the
    ESM papers' per-protein embeddings.

    Parameters
    ----------
    model_path
        A directory saved with ``save_pretrained`` (e.g. ``facebook/esm2_t33_650M_UR50D``
        downloaded once elsewhere and copied over).
    pooling
        ``"mean"`` (default) or ``"cls"``.
    **kwargs
        ``max_length``, ``batch_size``, ``device``: see :class:`TransformerEmbedder`.

    Examples
    --------
    >>> from scotm.priors import ProteinLM
    >>> esm = ProteinLM("models/esm2_t33_650M_UR50D")  # doctest: +SKIP
    >>> esm.embed(["MSYNLLGFLQRSSNFQCQKLL"]).shape  # doctest: +SKIP
    (1, 1280)
    """

    def __init__(self, model_path: str | os.PathLike, *, pooling: str = "mean", **kwargs) -> None:
        kwargs.setdefault("exclude_special", True)
        super().__init__(model_path, pooling=pooling, what="protein", **kwargs)
