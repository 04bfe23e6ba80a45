"""The default cell prior: GenePT cell embeddings into the encoder.

Each gene's MSigDB gene-set description is embedded once by all-MiniLM-L6-v2
(:func:`scotm.priors.genes.gene_embeddings`, cached on disk), and each cell's prior is the
mean of its genes' vectors weighted by its own log-normalised expression
(:func:`scotm.priors.cell_embedding`). Nothing is fitted: the prior of a cell depends only on
that cell, so held-out cells cannot leak through it. On Kang it raised the 8-fold mean
r2_mean_deg from 0.923 to 0.933 over 3 seeds (BENCHMARKS.md, "The GenePT cell prior as the
default").

The setting ``cell_prior`` (:class:`~scotm.model.config.ModuleConfig`) chooses:

- ``"auto"`` (default): GenePT when at least half of the genes are MSigDB gene symbols (the
  shipped list ``scotm/data/msigdb_genes.txt.gz``), else no prior, said in one log line;
- ``"genept"``: GenePT, or a one-line error when the genes are not gene symbols;
- ``"none"``: no prior (the published scOTM).

The gene vectors are part of the model (saved with it), so prediction and a loaded model
need neither the language model nor the gene sets.
"""

from __future__ import annotations

import functools
import gzip
import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import anndata as ad
import numpy as np

from .._errors import ScotmInputError

logger = logging.getLogger("scotm.model")

#: The ``cell_prior`` setting's options.
CELL_PRIORS = ("auto", "genept", "none")
#: "auto" uses GenePT when at least this fraction of the genes are MSigDB gene symbols
MIN_SYMBOLS = 0.5
SOURCE = "GenePT: all-MiniLM-L6-v2 over MSigDB gene-set descriptions"
UNIVERSE_FILE = "msigdb_genes.txt.gz"
#: cells per block when embedding: bounds the float64 temporaries on atlas-sized data
BLOCK = 65_536


@functools.lru_cache(maxsize=1)
def gene_universe() -> frozenset[str]:
    """The gene symbols of the Hallmark, Reactome and GO sets that describe genes.

    Shipped with the package (written by :func:`write_universe` from the same MSigDB
    v2023.2 files the descriptions come from), so deciding whether genes are symbols needs
    no download.
    """
    blob = resources.files("scotm").joinpath("data", UNIVERSE_FILE).read_bytes()
    return frozenset(gzip.decompress(blob).decode().split())


def write_universe(path: str | Path | None = None) -> Path:
    """Write the gene universe file from the cached gene sets (a maintainer's step)."""
    from ..priors.genes import COLLECTIONS, _membership

    genes = sorted(_membership(tuple(COLLECTIONS)))
    path = Path(path) if path else Path(__file__).parents[1] / "data" / UNIVERSE_FILE
    # mtime 0: the same genes give the same bytes
    path.write_bytes(gzip.compress(("\n".join(genes) + "\n").encode(), mtime=0))
    return path


def symbol_fraction(var_names: Sequence[str]) -> float:
    """The fraction of ``var_names`` that are MSigDB gene symbols."""
    names = np.asarray(var_names, dtype=str)
    if names.size == 0:
        return 0.0
    universe = gene_universe()
    return float(np.mean([g in universe for g in names]))


def resolve(var_names: Sequence[str], setting: str) -> np.ndarray | None:
    """The gene vectors (genes x d, float32) the ``cell_prior`` setting asks for, or ``None``.

    Examples
    --------
    >>> resolve(["gene0", "gene1"], "auto") is None
    True
    """
    if setting == "none":
        return None
    frac = symbol_fraction(var_names)
    if frac < MIN_SYMBOLS:
        msg = (
            f"only {frac:.0%} of the {len(var_names)} genes are MSigDB gene symbols "
            f"(e.g. {', '.join(map(str, list(var_names)[:3]))})"
        )
        if setting == "genept":
            raise ScotmInputError(
                f"cell_prior='genept' needs gene symbols as var_names, but {msg}; "
                "map the genes to symbols or set cell_prior='none'"
            )
        logger.info("Cell prior off: %s (cell_prior='auto')", msg)
        return None
    from ..priors.genes import gene_embeddings
    from ..priors.text import TextEmbedder

    try:
        table = gene_embeddings([str(g) for g in var_names], TextEmbedder())
    except ScotmInputError as exc:
        if setting == "genept":
            raise
        logger.warning("Cell prior off, the model trains without it: %s", exc)
        return None
    G = table.to_numpy(dtype=np.float32)  # rows in var_names' order
    logger.info("Cell prior: GenePT over %d genes (%.0f%% gene-set symbols)", len(G), 100 * frac)
    return G


def cells(adata: ad.AnnData, gene_vectors: np.ndarray) -> np.ndarray:
    """The GenePT prior of every cell of ``adata`` (cells x d), computed block by block.

    Row by row the same as :func:`scotm.priors.cell_embedding`; blocks keep the memory of
    atlas-sized (or backed) data to one block's temporaries.
    """
    from ..priors import cell_embedding

    if adata.n_vars != len(gene_vectors):
        raise ScotmInputError(
            f"the data have {adata.n_vars} genes but the model's cell prior {len(gene_vectors)}; "
            "use the genes the model was trained on"
        )
    n = adata.n_obs
    if n <= BLOCK:
        return cell_embedding(adata, gene_vectors)
    out = np.empty((n, gene_vectors.shape[1]), dtype=np.float32)
    for start in range(0, n, BLOCK):
        out[start : start + BLOCK] = cell_embedding(adata[start : start + BLOCK], gene_vectors)
    return out
