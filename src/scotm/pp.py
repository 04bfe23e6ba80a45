"""Preprocessing pinned by EVALUATION.md, and the input checks every entry point shares.

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

logger = logging.getLogger(__name__)


def _values(X) -> np.ndarray:
    return X.data if sp.issparse(X) else np.asarray(X).ravel()


def check_finite(adata: ad.AnnData, what: str = "X") -> None:
    """Refuse NaN or infinite values in ``adata.X``, naming how many cells carry them."""
    X = adata.X
    if sp.issparse(X):
        X = X.tocsr()
        bad_vals = ~np.isfinite(X.data)
        if not bad_vals.any():
            return
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        n_bad = np.unique(rows[bad_vals]).size
    else:
        bad = ~np.isfinite(np.asarray(X))
        if not bad.any():
            return
        n_bad = int(bad.any(axis=1).sum())
    raise ScotmInputError(
        f"{what} holds NaN or infinite values in {n_bad} of {adata.n_obs} cells; "
        "remove or impute those cells first (e.g. adata = adata[np.isfinite(adata.X).all(1)])"
    )


def check_keys(
    adata: ad.AnnData,
    condition_key: str = "condition",
    control: str = "control",
    perturbed: str | None = "stimulated",
    cell_type_key: str | None = "cell_type",
) -> None:
    """Check that obs keys and condition labels exist, with a one-line fix if not."""
    for key, flag in ((condition_key, "--condition-key"), (cell_type_key, "--cell-type-key")):
        if key is not None and key not in adata.obs:
            cols = ", ".join(map(str, adata.obs.columns[:20])) or "(none)"
            raise ScotmInputError(f"obs key '{key}' not found; obs has: {cols}; set it with {flag}")
    values = adata.obs[condition_key].astype(str)
    present = sorted(values.unique())
    for label, flag in ((control, "--control"), (perturbed, "--perturbed")):
        if label is not None and label not in present:
            raise ScotmInputError(
                f"label '{label}' not found in obs['{condition_key}']; values are: "
                f"{', '.join(present[:20])}; set it with {flag}"
            )


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
