"""One validation layer for every entry point: each problem is one line, what and how to fix it.

Every function takes an AnnData (and keys) and either returns quietly or raises
:class:`scotm.ScotmInputError`. :func:`validate` runs the data checks together;
:func:`read_h5ad` reads a user's file and turns every way it can fail (hangs included) into
one line.

Counts or log-normalised? (:func:`detect_scale`)
-------------------------------------------------
Every value is looked at once (never a sample):

* **Integer-valued, max > 20**: raw counts. No log transform gives values above 20
  (``log1p(1e6)`` = 13.8, ``log2(1e6 + 1)`` = 19.9).
* **Integer-valued, max <= 20**: counts, unless the data look like *log values stored as
  integers*. Two signs must agree:

  - each cell's ``sum(expm1(x))`` is the normalisation target up to rounding, so its log10
    is nearly the same in every cell (s.d. <= 0.3 over >= 10 cells) and lies in 2.5..6.5
    (targets of ~300 to ~3e6);
  - the values lack the 1s that counts are full of: 1s are under 35% of the non-zero
    values, or at least 20% of the cells with >= 10 non-zero genes hold no 1.

  ``benchmarks/scale_rule.py`` prints both signs for Kang and its variants (BENCHMARKS.md,
  "Reliability"). Those are refused: rounding destroyed most of the signal. Shallow counts
  can pass the first sign but not the second. Rounded logs of very deep cells (> ~15,000
  UMIs, where one count rounds to 1 or 0) would pass the second and be taken as counts.
  ``prepare(..., input_scale=...)`` overrides the rule.
* **Non-integer, max > 30**: normalised but never log-transformed (CPM, TPM,
  ``normalize_total`` alone) or non-integer corrected counts: refused, with the fix.
* **Non-integer, every cell's plain sum equal** (relative s.d. < 1e-4, over the >= 3 cells
  with >= 2 non-zero genes): normalised to a fixed total and not logged (e.g.
  ``target_sum=1``): refused.
* **Otherwise non-integer**: log-normalised (``log1p``, any base, HVG subsets, decoded
  predictions).

Examples
--------
>>> import scotm
>>> adata = scotm.datasets.kang()  # doctest: +SKIP
>>> scotm.validate.validate(adata, perturbed="stimulated")  # doctest: +SKIP
'counts'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import anndata as ad
import numpy as np
import scipy.sparse as sp

from ._errors import ScotmInputError
from ._h5read import READ_TIMEOUT_S, read_h5ad  # noqa: F401  (public here)
from ._matrix import MatrixStats, matrix_stats

#: values beyond these cannot be log-transformed expression (see the module docstring)
MAX_LOG_INT = 20.0
MAX_LOG = 30.0
#: "log values stored as integers": s.d. and range of log10(sum(expm1(x))) per cell
LOGINT_SD = 0.3
LOGINT_RANGE = (2.5, 6.5)
#: ... and unlike counts, few 1s: under 35% of the non-zero values, or >= 20% of the cells
#: (with >= 10 non-zero genes) have no 1 at all
LOGINT_SHARE1 = 0.35
LOGINT_NO_ONES = 0.2
#: relative s.d. of per-cell sums below which non-integer data are normalised, not logged
CONST_SUM_CV = 1e-4


def check_sparse(X, what: str = "X") -> None:
    """Refuse a sparse matrix whose structure is corrupt (indices out of range, ...).

    scipy trusts ``indptr``/``indices``: a damaged file can hold values that crash the
    process (SIGSEGV) in ``toarray()`` or slicing. Dense matrices pass.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.eye(2))
    >>> X.indices[0] = 7
    >>> check_sparse(X)  # doctest: +SKIP
    scotm.ScotmInputError: X's sparse structure is corrupt (indices must be < 2); ...
    """
    if X is None or not sp.issparse(X):
        return
    try:
        X.check_format(full_check=True)
    except (ValueError, TypeError, IndexError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScotmInputError(
            f"{what}'s sparse structure is corrupt ({reason}); the file is damaged: "
            "re-export or re-download it"
        ) from exc


def check_finite(adata: ad.AnnData, what: str = "X") -> None:
    """Refuse NaN or infinite values in X, naming how many cells carry them.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> check_finite(ad.AnnData(np.array([[np.nan, 1.0]])))  # doctest: +SKIP
    scotm.ScotmInputError: X holds NaN or infinite values in 1 of 1 cells; ...
    """
    check_sparse(adata.X, what)
    n_bad = matrix_stats(adata.X).nonfinite_cells if adata.X is not None else 0
    if n_bad:
        _nonfinite(adata, what, n_bad)


def _nonfinite(adata: ad.AnnData, what: str, n_bad: int) -> None:
    raise ScotmInputError(
        f"{what} holds NaN or infinite values in {n_bad} of {adata.n_obs} cells; remove or "
        "impute those cells first (e.g. adata = adata[np.isfinite(adata.X.toarray()).all(1)])"
    )


def check_matrix(adata: ad.AnnData, what: str = "X") -> MatrixStats:
    """Refuse a missing, non-numeric, empty, non-finite, negative or all-zero X.

    Every value is checked (two negative values among millions are found). Returns the
    :class:`MatrixStats` of the scan, for :func:`detect_scale`.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> check_matrix(ad.AnnData(np.array([[1.0, -1.0]])))  # doctest: +SKIP
    scotm.ScotmInputError: X has 1 negative value(s) ...
    """
    X = adata.X
    if X is None:
        raise ScotmInputError(
            f"{what} has no expression matrix (X is empty); store the expression in X, "
            "e.g. adata.X = adata.layers['counts']"
        )
    dtype = getattr(X, "dtype", None)
    if dtype is None or dtype.kind not in "iuf":
        raise ScotmInputError(
            f"{what} has dtype {dtype}, not numbers; store expression as float or int, "
            "e.g. adata.X = adata.X.astype('float32')"
        )
    check_sparse(X, what)
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ScotmInputError(
            f"{what} is empty ({adata.n_obs} cells x {adata.n_vars} genes); "
            "check the file or the filters that produced it"
        )
    stats = matrix_stats(X)
    if stats.nonfinite_cells:
        _nonfinite(adata, what, stats.nonfinite_cells)
    if stats.n_negative:
        raise ScotmInputError(
            f"{what} has negative values ({stats.n_negative} of them): scotm expects raw "
            "counts or log-normalised expression, not scaled/centred data; pass adata.raw or "
            "the log1p layer"
        )
    if stats.n_nonzero == 0:
        raise ScotmInputError(
            f"{what} is all zeros ({adata.n_obs} cells x {adata.n_vars} genes); "
            "the expression matrix is missing or was lost: check the file's X"
        )
    return stats


def detect_scale(adata: ad.AnnData, what: str = "X", stats: MatrixStats | None = None) -> str:
    """``'counts'`` or ``'log'`` for X; refuse un-logged normalised data and rounded logs.

    The rule is in this module's docstring. ``stats`` skips the scan when
    :func:`check_matrix` already made one.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> detect_scale(ad.AnnData(np.array([[0.0, 5.0, 30.0], [1.0, 0.0, 2.0]])))
    'counts'
    >>> detect_scale(ad.AnnData(np.array([[0.0, 1.2, 3.3], [0.7, 0.0, 2.1]])))
    'log'
    """
    s = check_matrix(adata, what) if stats is None else stats
    live = s.row_sums > 0
    if s.all_integer:
        if s.vmax > MAX_LOG_INT:
            return "counts"
        le = np.log10(s.row_expm1[live])
        lo, hi = LOGINT_RANGE
        fixed_total = le.size >= 10 and le.std() <= LOGINT_SD and lo <= np.median(le) <= hi
        rich = s.row_nnz >= 10
        no_ones = float(np.mean(s.row_min[rich] > 1)) if rich.any() else 0.0
        share1 = s.n_ones / max(s.n_nonzero, 1)
        if fixed_total and (share1 < LOGINT_SHARE1 or no_ones >= LOGINT_NO_ONES):
            raise ScotmInputError(
                f"{what} looks like log-normalised values stored as integers (max "
                f"{s.vmax:g}, each cell's sum(expm1) ~ {10 ** np.median(le):.3g}): pass the "
                "unrounded log values or the raw counts (raw counts after all? "
                "prepare(..., input_scale='counts'))"
            )
        return "counts"
    if s.vmax > MAX_LOG:
        raise ScotmInputError(
            f"{what} looks normalised but not log-transformed (non-integer values up to "
            f"{s.vmax:.4g}; log data stay below {MAX_LOG:g}): run sc.pp.log1p(adata) first, "
            "pass raw counts, or round corrected counts with np.round"
        )
    sums = s.row_sums[s.row_nnz >= 2]  # a cell with one gene has a fixed sum either way
    if sums.size >= 3 and sums.std() <= CONST_SUM_CV * sums.mean():
        raise ScotmInputError(
            f"{what} looks normalised but not log-transformed (every cell sums to "
            f"{sums.mean():.4g}): run sc.pp.log1p(adata) first, or pass raw counts"
        )
    return "log"


def _dupes(index, what: str, axis: str, fix: str) -> None:
    dup = index[index.duplicated()]
    if len(dup):
        ex = ", ".join(map(str, dict.fromkeys(dup)))[:120]
        raise ScotmInputError(
            f"{what} has {len(dup)} duplicated {axis} name(s) (e.g. {ex}); "
            f"make them unique first: adata.{fix}()"
        )


def check_names(adata: ad.AnnData, what: str = "X") -> None:
    """Refuse duplicated cell (obs) or gene (var) names.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> a = ad.AnnData(np.ones((2, 2)))
    >>> a.var_names = ["g", "g"]
    >>> check_names(a)  # doctest: +SKIP
    scotm.ScotmInputError: X has 1 duplicated gene name(s) (e.g. g); ...
    """
    _dupes(adata.var_names, what, "gene", "var_names_make_unique")
    _dupes(adata.obs_names, what, "cell", "obs_names_make_unique")


def check_keys(
    adata: ad.AnnData,
    condition_key: str = "condition",
    control: str = "control",
    perturbed: str | Sequence[str] | None = "stimulated",
    cell_type_key: str | None = "cell_type",
) -> None:
    """Check that the obs keys exist, hold no missing labels, and carry the labels asked for.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> obs = pd.DataFrame({"condition": ["control", "stimulated"], "cell_type": ["T", None]})
    >>> check_keys(ad.AnnData(np.ones((2, 1)), obs=obs))  # doctest: +SKIP
    scotm.ScotmInputError: obs['cell_type'] has 1 missing (NaN) label(s); ...
    """
    # messages name the arguments; the CLI turns them into its flags (scotm.cli.common.to_flags)
    for key, flag in ((condition_key, "condition_key"), (cell_type_key, "cell_type_key")):
        if key is None:
            continue
        if key not in adata.obs:
            cols = ", ".join(map(str, adata.obs.columns[:20])) or "(none)"
            raise ScotmInputError(
                f"obs key '{key}' not found; obs has: {cols}; set it with argument {flag}"
            )
        n_na = int(adata.obs[key].isna().sum())
        if n_na:
            raise ScotmInputError(
                f"obs['{key}'] has {n_na} missing (NaN) label(s); drop those cells "
                f"(adata = adata[adata.obs['{key}'].notna()].copy()) or fill them in"
            )
    present = sorted(adata.obs[condition_key].astype(str).unique())
    wanted = [(control, "control")]
    if perturbed is not None:
        labels = [perturbed] if isinstance(perturbed, str) else list(perturbed)
        wanted += [(p, "perturbed") for p in labels]
    for label, flag in wanted:
        if label is not None and str(label) not in present:
            raise ScotmInputError(
                f"label '{label}' not found in obs['{condition_key}']; values are: "
                f"{', '.join(present[:20])}; set it with argument {flag}"
            )


def check_group_sizes(
    adata: ad.AnnData,
    condition_key: str,
    labels: Sequence[str],
    cell_type_key: str | None = None,
    cell_types: Sequence[str] | None = None,
    min_cells: int = 2,
) -> None:
    """Refuse a (cell type, condition) group with fewer than ``min_cells`` cells.

    The DEG test (Wilcoxon, ``rank_genes_groups``) needs at least 2 cells on each side.
    ``cell_types`` defaults to every type (or the whole data without ``cell_type_key``).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> obs = pd.DataFrame({"condition": ["control", "control", "stimulated"]})
    >>> check_group_sizes(ad.AnnData(np.ones((3, 1)), obs=obs), "condition",
    ...                   ["control", "stimulated"])  # doctest: +SKIP
    scotm.ScotmInputError: too few cells for the DEG test: stimulated: 1; ...
    """
    cond = adata.obs[condition_key].astype(str).to_numpy()
    if cell_type_key is None:
        groups = {"": np.ones(adata.n_obs, dtype=bool)}
    else:
        ct = adata.obs[cell_type_key].astype(str).to_numpy()
        types = sorted(set(ct)) if cell_types is None else [str(t) for t in cell_types]
        groups = {t: ct == t for t in types}
    small = []
    for t, in_type in groups.items():
        for label in labels:
            n = int(np.count_nonzero(in_type & (cond == str(label))))
            if n < min_cells:
                small.append(f"{t + ' ' if t else ''}{label}: {n}")
    if small:
        raise ScotmInputError(
            f"too few cells for the DEG test (it needs >= {min_cells} per group): "
            f"{'; '.join(small[:5])}{' ...' if len(small) > 5 else ''}; "
            "hold out another cell type or drop the small ones"
        )


def check_n_genes(n_genes: int, what: str = "X", min_genes: int = 2) -> None:
    """Refuse fewer than ``min_genes`` genes (one gene trains, then scores NaN)."""
    if n_genes < min_genes:
        raise ScotmInputError(
            f"{what} has {n_genes} gene(s) after gene selection; scotm needs >= {min_genes} "
            "(EVALUATION.md uses 2000): raise --n-top-genes or pass more genes"
        )


def check_genes(adata: ad.AnnData, var_names: Sequence[str], what: str = "X") -> np.ndarray:
    """Check ``adata`` has every gene of a saved model; return their column positions.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> a = ad.AnnData(np.ones((1, 3)))
    >>> a.var_names = ["a", "b", "c"]
    >>> check_genes(a, ["c", "a"]).tolist()
    [2, 0]
    """
    _dupes(adata.var_names, what, "gene", "var_names_make_unique")
    want = [str(g) for g in var_names]
    pos = adata.var_names.get_indexer(want)
    missing = [g for g, p in zip(want, pos, strict=True) if p < 0]
    if missing:
        raise ScotmInputError(
            f"{what} lacks {len(missing)} of the model's {len(want)} genes (e.g. "
            f"{', '.join(missing[:5])}); pass data over the genes the model was trained on "
            "(the same var_names, e.g. the same gene IDs, not symbols)"
        )
    return pos


def validate(
    adata: ad.AnnData,
    *,
    condition_key: str | None = "condition",
    control: str = "control",
    perturbed: str | Sequence[str] | None = None,
    cell_type_key: str | None = "cell_type",
    what: str = "X",
) -> str:
    """Run the data checks an entry point needs; return ``'counts'`` or ``'log'``.

    Matrix (:func:`check_matrix`), names (:func:`check_names`), keys and labels
    (:func:`check_keys`, skipped when ``condition_key`` is None) and the scale
    (:func:`detect_scale`).

    Examples
    --------
    >>> import scotm
    >>> scotm.validate.validate(scotm.datasets.kang(), perturbed="stimulated")  # doctest: +SKIP
    'counts'
    """
    stats = check_matrix(adata, what)
    check_names(adata, what)
    if condition_key is not None:
        check_keys(adata, condition_key, control, perturbed, cell_type_key)
    return detect_scale(adata, what, stats)


_VALIDATED: ContextVar[bool] = ContextVar("scotm_validated", default=False)


@contextmanager
def validated() -> Iterator[None]:
    """Within, :func:`require_log` skips its full-matrix checks (the caller ran them once).

    For an entry point that slices data it has validated (a benchmark's folds).

    Examples
    --------
    >>> with validated():
    ...     pass
    """
    token = _VALIDATED.set(True)
    try:
        yield
    finally:
        _VALIDATED.reset(token)


def require_log(adata: ad.AnnData, what: str = "the data") -> None:
    """Refuse data an entry point cannot use: bad names, values, or raw counts.

    Duplicated names are always checked (cheap); the matrix (:func:`check_matrix`) and
    its scale (:func:`detect_scale`) once, unless inside :func:`validated`. Output of
    :func:`scotm.pp.prepare` (``uns['scotm_pp']``) is log-normalised by construction (its
    ``input_scale`` may have overridden the detection): its scale is not detected again.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> require_log(ad.AnnData(np.array([[0.0, 1.5], [2.3, 0.7]])))
    """
    check_names(adata, what)
    if _VALIDATED.get():
        return
    stats = check_matrix(adata, what)
    if "scotm_pp" in adata.uns:
        return
    if detect_scale(adata, what, stats) == "counts":
        raise ScotmInputError(
            f"{what} look like raw counts; scotm needs log-normalised data: run "
            "scotm.pp.prepare(adata) first (input_scale='log' there if they are logs)"
        )
