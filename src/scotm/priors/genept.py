"""GenePT-style cell embeddings: expression-weighted means of gene text embeddings.

Chen & Zou (GenePT, 2024) embed each gene's description with a language model and a cell as
the average of its genes' embeddings weighted by the cell's expression. With ``X`` the
``cells x genes`` (log-normalised) expression and ``G`` the ``genes x d`` gene embeddings,
a cell's embedding is ``(X @ G) / X.sum(1)``: one sparse matrix product.
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ScotmInputError
from .base import EmbedderLike

logger = logging.getLogger(__name__)


def _aligned(adata: ad.AnnData, gene_embeddings) -> tuple[np.ndarray, np.ndarray]:
    """(embedding matrix over the genes that have one, column mask of those genes)."""
    if isinstance(gene_embeddings, pd.DataFrame):
        index = gene_embeddings.index.astype(str)
        if index.has_duplicates:
            raise ScotmInputError("gene_embeddings has duplicated gene names in its index")
        keep = adata.var_names.isin(index)
        if not keep.any():
            raise ScotmInputError(
                f"none of the {adata.n_vars} genes (e.g. {', '.join(adata.var_names[:3])}) is in "
                f"gene_embeddings' index (e.g. {', '.join(index[:3])}); index it by var_names"
            )
        if not keep.all():
            logger.info(
                "GenePT: %d of %d genes have no embedding and are left out",
                int((~keep).sum()),
                adata.n_vars,
            )
        G = gene_embeddings.loc[adata.var_names[keep]].to_numpy(dtype=np.float32)
        return G, keep
    G = np.asarray(gene_embeddings, dtype=np.float32)
    if G.ndim != 2 or G.shape[0] != adata.n_vars:
        raise ScotmInputError(
            f"gene_embeddings has shape {G.shape}; it needs one row per gene ({adata.n_vars}), "
            "or pass a DataFrame indexed by gene name"
        )
    return G, np.ones(adata.n_vars, dtype=bool)


def cell_embedding(
    adata: ad.AnnData, gene_embeddings: pd.DataFrame | np.ndarray, *, layer: str | None = None
) -> np.ndarray:
    """Expression-weighted mean of gene embeddings for each cell: ``(n_cells, d)`` float32.

    Parameters
    ----------
    adata
        Cells x genes, log-normalised expression in ``X`` (or ``layer``); sparse is fine.
    gene_embeddings
        A ``genes x d`` DataFrame indexed by gene name (genes missing from it get no weight),
        or an array with one row per ``adata.var_names``.
    layer
        Use ``adata.layers[layer]`` instead of ``X``.

    Returns
    -------
    ``E[i] = sum_g X[i, g] * G[g] / sum_g X[i, g]``; a cell with no expression in the
    embedded genes gets zeros.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> from scotm.priors import cell_embedding
    >>> a = ad.AnnData(np.array([[1.0, 3.0], [0.0, 2.0]], dtype=np.float32))
    >>> cell_embedding(a, np.array([[1.0, 0.0], [0.0, 1.0]])).tolist()
    [[0.25, 0.75], [0.0, 1.0]]
    """
    if layer is not None and layer not in adata.layers:
        raise ScotmInputError(
            f"no layer '{layer}'; layers are: {', '.join(adata.layers.keys()) or 'none'}"
        )
    X = adata.layers[layer] if layer is not None else adata.X
    G, keep = _aligned(adata, gene_embeddings)
    X = sp.csr_matrix(X) if not sp.issparse(X) else X.tocsr()
    if not keep.all():
        X = X[:, np.flatnonzero(keep)]
    X = X.astype(np.float32)
    data = X.data
    if data.size and not np.isfinite(data).all():
        raise ScotmInputError("expression holds NaN or infinite values; fix them first")
    if data.size and data.min() < 0:
        raise ScotmInputError(
            "expression has negative values (scaled data?); GenePT weights need non-negative "
            "log-normalised expression: use the data before sc.pp.scale"
        )
    total = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    weighted = np.asarray(X @ G, dtype=np.float64)
    out = np.zeros_like(weighted)
    nz = total > 0
    out[nz] = weighted[nz] / total[nz, None]
    if (~nz).any():
        logger.info("GenePT: %d cells with no expression get zero vectors", int((~nz).sum()))
    return out.astype(np.float32)


def genept(
    adata: ad.AnnData,
    gene_embeddings: pd.DataFrame | np.ndarray | None = None,
    *,
    embedder: EmbedderLike | None = None,
    layer: str | None = None,
    key_added: str = "X_genept",
    copy: bool = False,
) -> ad.AnnData:
    """GenePT cell embeddings into ``adata.obsm[key_added]``, scanpy style.

    Parameters
    ----------
    adata
        Cells x genes, log-normalised (``scotm.pp.prepare`` output, for instance).
    gene_embeddings
        Precomputed gene embeddings (see :func:`cell_embedding`). Default: each gene's
        gene-set description (:func:`scotm.priors.gene_descriptions`) embedded by
        ``embedder``.
    embedder
        Text embedder for the gene descriptions (default: all-MiniLM-L6-v2,
        :class:`scotm.priors.TextEmbedder`); results are cached on disk.
    layer
        Expression layer to weight by (default ``X``).
    key_added
        ``obsm`` key for the result.
    copy
        Work on a copy and return it; otherwise ``adata`` is modified in place.

    Returns
    -------
    The AnnData holding the result: ``adata`` itself, or its copy with ``copy=True``.
    ``uns[key_added]`` records the model and the number of genes used.

    Examples
    --------
    >>> import scotm
    >>> adata = scotm.pp.prepare(scotm.datasets.kang())  # doctest: +SKIP
    >>> scotm.priors.genept(adata).obsm["X_genept"].shape  # doctest: +SKIP
    (13576, 384)
    """
    if copy:
        adata = adata.copy()
    model = "precomputed"
    if gene_embeddings is None:
        from .genes import gene_embeddings as embed_genes
        from .text import TextEmbedder

        embedder = embedder if embedder is not None else TextEmbedder()
        gene_embeddings = embed_genes(list(adata.var_names), embedder)
        model = embedder.name
    E = cell_embedding(adata, gene_embeddings, layer=layer)
    n_genes = (
        int(adata.var_names.isin(gene_embeddings.index.astype(str)).sum())
        if isinstance(gene_embeddings, pd.DataFrame)
        else adata.n_vars
    )
    adata.obsm[key_added] = E
    adata.uns[key_added] = {"model": model, "n_genes": n_genes, "dim": int(E.shape[1])}
    return adata
