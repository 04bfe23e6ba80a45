"""The one dense-matrix helper: sparse or dense ``X`` in, a dense NumPy array out."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def dense(X, dtype: type = np.float32) -> np.ndarray:
    """``X`` (sparse or dense) as a dense array of ``dtype`` (float32 unless asked).

    Examples
    --------
    >>> dense(sp.csr_matrix(np.eye(2))).dtype
    dtype('float32')
    """
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=dtype)


def dense64(X) -> np.ndarray:
    """``X`` as a dense float64 array, for metrics that sum many values.

    Examples
    --------
    >>> dense64(np.ones((1, 2), dtype=np.float32)).dtype
    dtype('float64')
    """
    return dense(X, np.float64)
