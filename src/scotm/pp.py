"""Preprocessing pinned by EVALUATION.md (the input checks live in :mod:`scotm.design`).

Raw counts -> ``normalize_total(1e4)`` -> ``log1p`` -> 2,000 HVGs (``flavor="seurat"``, on all
cells) -> keep those genes. Data handed over already log-normalised skip the first two steps.
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from ._errors import ScotmInputError
from .design import check_finite, check_keys  # noqa: F401  (their home is design; kept here)

logger = logging.getLogger(__name__)


def _values(X) -> np.ndarray:
    return X.data if sp.issparse(X) else np.asarray(X).ravel()


def is_lognormalised(adata: ad.AnnData, n_sample: int = 100_000) -> bool:
    """True when X looks already log-normalised (non-integer values), False for raw counts."""
    vals = _values(adata.X)
    if vals.size == 0:
        return False
    if vals.size > n_sample:
        vals = vals[np.random.default_rng(0).choice(vals.size, n_sample, replace=False)]
    vals = vals[vals != 0]
    if vals.size and (vals < 0).any():
        raise ScotmInputError(
            "X has negative values: scotm expects raw counts or log-normalised expression, "
            "not scaled/centred data; pass adata.raw or the log1p layer instead"
        )
    return bool(vals.size) and not np.allclose(vals, np.round(vals))


def prepare(
    adata: ad.AnnData,
    n_top_genes: int | None = 2000,
    *,
    flavor: str = "seurat",
) -> ad.AnnData:
    """Normalise, log-transform and subset to highly variable genes, as EVALUATION.md pins.

    Parameters
    ----------
    adata
        Raw counts or log-normalised expression (detected automatically).
    n_top_genes
        Number of HVGs, computed on all cells; ``None`` keeps every gene.
    flavor
        scanpy HVG flavour.

    Returns
    -------
    A new AnnData with log-normalised X (float32, CSR) over the selected genes.
    ``uns['scotm_pp']`` records what was done.

    Examples
    --------
    >>> import scotm
    >>> adata = scotm.pp.prepare(scotm.datasets.kang())  # doctest: +SKIP
    >>> adata.shape  # doctest: +SKIP
    (13576, 2000)
    """
    check_finite(adata)
    adata = adata.copy()
    if not sp.issparse(adata.X):
        adata.X = sp.csr_matrix(np.asarray(adata.X, dtype=np.float32))
    log_input = is_lognormalised(adata)
    if log_input:
        logger.info("X is already log-normalised (non-integer values): skipping normalize/log1p.")
    else:
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
    adata.uns.pop("log1p", None)
    n_genes = adata.n_vars
    if n_top_genes is not None and n_top_genes < n_genes:
        sc.pp.highly_variable_genes(adata, n_top_genes=n_top_genes, flavor=flavor)
        adata = adata[:, adata.var["highly_variable"].to_numpy()].copy()
    adata.X = adata.X.astype(np.float32)
    adata.uns["scotm_pp"] = {
        "lognormalised_input": log_input,
        "n_top_genes": int(adata.n_vars),
        "hvg_flavor": flavor,
        "n_genes_before": int(n_genes),
    }
    return adata
