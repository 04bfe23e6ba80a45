"""Preprocessing pinned by EVALUATION.md (the input checks live in :mod:`scotm.validate`).

Raw counts -> ``normalize_total(1e4)`` -> ``log1p`` -> 2,000 HVGs (``flavor="seurat"``, on all
cells) -> keep those genes. Data handed over already log-normalised skip the first two steps.
"""

from __future__ import annotations

import gc
import logging

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from . import validate
from ._errors import ScotmInputError
from ._subset import copy_subset
from .validate import check_finite, check_keys  # noqa: F401  (kept importable from pp)

logger = logging.getLogger(__name__)


def is_lognormalised(adata: ad.AnnData, what: str = "X") -> bool:
    """True for log-normalised X, False for raw counts; refuse anything else.

    Every value is checked: negative, non-finite, empty or all-zero X, un-logged normalised
    data (CPM) and log values stored as integers each raise a one-line
    :class:`~scotm.ScotmInputError`. The rule is documented in :mod:`scotm.validate`.

    Examples
    --------
    >>> import scotm
    >>> scotm.pp.is_lognormalised(scotm.datasets.kang())  # doctest: +SKIP
    False
    """
    return validate.detect_scale(adata, what) == "log"


def prepare(
    adata: ad.AnnData,
    n_top_genes: int | None = 2000,
    *,
    flavor: str = "seurat",
    input_scale: str = "auto",
) -> ad.AnnData:
    """Normalise, log-transform and subset to highly variable genes, as EVALUATION.md pins.

    Parameters
    ----------
    adata
        Raw counts or log-normalised expression (detected automatically, see
        :mod:`scotm.validate`); anything else (NaN, negative, CPM, empty, duplicated gene
        names) is refused with a one-line :class:`~scotm.ScotmInputError`.
    n_top_genes
        Number of HVGs (>= 2), computed on all cells; ``None`` keeps every gene.
    flavor
        scanpy HVG flavour.
    input_scale
        ``"auto"`` (detect, see :mod:`scotm.validate`), or ``"counts"`` / ``"log"`` to
        override the detection for data it misjudges.

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
    if n_top_genes is not None and (isinstance(n_top_genes, bool) or n_top_genes < 2):
        raise ScotmInputError(
            f"n_top_genes={n_top_genes!r}: give 2 or more genes (EVALUATION.md uses 2000), "
            "or None to keep every gene"
        )
    if input_scale not in ("auto", "counts", "log"):
        raise ScotmInputError(f"input_scale={input_scale!r}: choose 'auto', 'counts' or 'log'")
    stats = validate.check_matrix(adata)
    validate.check_names(adata)
    if input_scale == "auto":
        input_scale = validate.detect_scale(adata, stats=stats)
    log_input = input_scale == "log"
    adata = adata.copy()
    if not sp.issparse(adata.X):
        adata.X = sp.csr_matrix(np.asarray(adata.X, dtype=np.float32))
    if log_input:
        logger.info("X is already log-normalised: skipping normalize/log1p.")
    else:
        normalise_log1p(adata)
    adata.uns.pop("log1p", None)
    n_genes = adata.n_vars
    if n_top_genes is not None and n_top_genes < n_genes:
        sc.pp.highly_variable_genes(adata, n_top_genes=n_top_genes, flavor=flavor)
        adata = copy_subset(adata, var=adata.var["highly_variable"].to_numpy())
        gc.collect()  # AnnData holds reference cycles: free the all-genes copy now
    validate.check_n_genes(adata.n_vars)
    adata.X = adata.X.astype(np.float32, copy=False)  # no third copy of the matrix
    adata.uns["scotm_pp"] = {
        "lognormalised_input": log_input,
        "n_top_genes": int(adata.n_vars),
        "hvg_flavor": flavor,
        "n_genes_before": int(n_genes),
    }
    return adata


#: Cells normalised at once by :func:`normalise_log1p` (bounds its temporary memory).
CHUNK_CELLS = 20_000


def normalise_log1p(adata: ad.AnnData, target_sum: float = 1e4) -> None:
    """``sc.pp.normalize_total(target_sum)`` then ``sc.pp.log1p``, in place, in blocks of cells.

    Each cell is normalised on its own, so scanpy run on blocks of :data:`CHUNK_CELLS` rows
    gives the same values, bit for bit, as on the whole matrix, while its temporaries (a
    scale factor per stored value, and the result) take a block's memory rather than twice
    the whole matrix's. Used for a float32 CSR ``X``; any other ``X`` goes to scanpy whole.

    Examples
    --------
    >>> import anndata as ad, numpy as np, scipy.sparse as sp
    >>> a = ad.AnnData(sp.csr_matrix(np.array([[1.0, 3.0], [0.0, 2.0]], dtype=np.float32)))
    >>> normalise_log1p(a, target_sum=4.0)
    >>> np.round(a.X.toarray(), 3)
    array([[0.693, 1.386],
           [0.   , 1.609]], dtype=float32)
    """
    X = adata.X
    if not (sp.issparse(X) and X.format == "csr" and X.dtype == np.float32):
        sc.pp.normalize_total(adata, target_sum=target_sum)
        sc.pp.log1p(adata)
        return
    for start in range(0, X.shape[0], CHUNK_CELLS):
        stop = min(start + CHUNK_CELLS, X.shape[0])
        lo, hi = X.indptr[start], X.indptr[stop]
        block = ad.AnnData(X[start:stop])
        sc.pp.normalize_total(block, target_sum=target_sum)
        sc.pp.log1p(block)
        if block.X.nnz != hi - lo:  # scanpy changed the stored entries: not expected
            raise RuntimeError("normalise_log1p: scanpy changed the sparsity of a block")
        X.data[lo:hi] = block.X.data
    adata.uns["log1p"] = {"base": None}  # as sc.pp.log1p records it
