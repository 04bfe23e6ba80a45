"""One pass over every value of a matrix, dense or sparse, in bounded memory.

:func:`matrix_stats` feeds :mod:`scotm.validate`: non-finite and negative values, the
maximum, whether all values are integers, and per-cell sums, ``expm1`` sums, non-zero counts
and smallest positive values (for the counts-vs-log rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: values scanned per block (bounds the temporary memory of a check to ~100 MB)
_BLOCK = 4_000_000


@dataclass(frozen=True)
class MatrixStats:
    """What one pass over every value of X finds (see :func:`matrix_stats`)."""

    n_obs: int
    n_vars: int
    n_nonzero: int
    nonfinite_cells: int
    n_negative: int
    vmax: float
    all_integer: bool
    n_ones: int
    row_sums: np.ndarray
    row_expm1: np.ndarray
    row_nnz: np.ndarray
    row_min: np.ndarray


def _row_min(vals: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Smallest positive value of each row (inf for a row without one); rows sorted."""
    out = np.full(n, np.inf)
    v = np.where(vals > 0, vals, np.inf)
    stored = np.bincount(rows, minlength=n)
    has = stored > 0
    if has.any():
        starts = np.concatenate([[0], np.cumsum(stored)[:-1]])[has]
        out[has] = np.minimum.reduceat(v, starts)
    return out


def is_backed_sparse(X) -> bool:
    """Whether ``X`` is a sparse matrix left on disk (``anndata.read_h5ad(..., backed="r")``).

    Examples
    --------
    >>> import numpy as np
    >>> is_backed_sparse(np.zeros((2, 2)))
    False
    """
    from anndata.abc import CSCDataset, CSRDataset

    return isinstance(X, CSRDataset | CSCDataset)


def _blocks(X) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(values, row index within block, rows in block) for row blocks of a matrix."""
    n_obs, n_vars = X.shape
    if is_backed_sparse(X):  # an h5ad opened with backed="r": read a slab of rows at a time
        step = max(1, 2 * _BLOCK // max(n_vars, 1))
        for start in range(0, n_obs, step):
            yield from _blocks(X[start : start + step])
        return
    if sp.issparse(X):
        X = X.tocsr() if X.format != "csr" else X
        indptr = X.indptr
        start = 0
        while start < n_obs:
            stop = int(np.searchsorted(indptr, indptr[start] + _BLOCK, side="right")) - 1
            stop = min(max(stop, start + 1), n_obs)
            vals = np.asarray(X.data[indptr[start] : indptr[stop]], dtype=np.float64)
            rows = np.repeat(np.arange(stop - start), np.diff(indptr[start : stop + 1]))
            yield vals, rows, stop - start
            start = stop
    else:
        step = max(1, _BLOCK // max(n_vars, 1))
        for start in range(0, n_obs, step):
            block = np.asarray(X[start : start + step], dtype=np.float64)
            rows = np.repeat(np.arange(block.shape[0]), n_vars)
            yield block.ravel(), rows, block.shape[0]


def matrix_stats(X) -> MatrixStats:
    """Scan every value of ``X`` (dense or sparse) once, block by block.

    Examples
    --------
    >>> import numpy as np
    >>> matrix_stats(np.array([[0, 1.0], [2, 3]])).vmax
    3.0
    """
    n_obs, n_vars = X.shape
    row_sums, row_expm1, row_nnz, row_min, bad_rows = [], [], [], [], 0
    n_neg, n_nz, n_ones, vmax, all_int = 0, 0, 0, 0.0, True
    for vals, rows, n in _blocks(X):
        finite = np.isfinite(vals)
        if not finite.all():
            bad_rows += int(np.unique(rows[~finite]).size)
            vals = np.where(finite, vals, 0.0)
        n_neg += int(np.count_nonzero(vals < 0))
        n_nz += int(np.count_nonzero(vals))
        n_ones += int(np.count_nonzero(vals == 1))
        if vals.size:
            vmax = max(vmax, float(vals.max()))
        all_int = all_int and bool(np.all(vals == np.round(vals)))
        row_sums.append(np.bincount(rows, weights=vals, minlength=n))
        with np.errstate(over="ignore"):
            e = np.expm1(np.minimum(vals, 50.0))
        row_expm1.append(np.bincount(rows, weights=e, minlength=n))
        row_nnz.append(np.bincount(rows, weights=vals > 0, minlength=n))
        row_min.append(_row_min(vals, rows, n))

    def cat(parts: list) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0)

    return MatrixStats(
        n_obs=n_obs,
        n_vars=n_vars,
        n_nonzero=n_nz,
        nonfinite_cells=bad_rows,
        n_negative=n_neg,
        vmax=vmax,
        all_integer=all_int,
        n_ones=n_ones,
        row_sums=cat(row_sums),
        row_expm1=cat(row_expm1),
        row_nnz=cat(row_nnz),
        row_min=cat(row_min),
    )
