"""Metrics that still mean something when a perturbation's effect is weak.

Many CRISPRi knock-downs move few genes, and a top-100 DEG list is then mostly noise; a
prediction can also score well on the pinned metrics (:mod:`scotm.metrics`) by reproducing
the response *every* perturbation shares. These three checks sit beside the pinned ones:

=========================  =================================================================
:func:`systema_r`          Pearson r of the predicted and real change relative to the mean of
                           all perturbed cells, not to control (Systema, Vinas Torne et al.
                           2025): the part of the response specific to this perturbation
:func:`centroid_ranks`     is each prediction nearer to its own perturbation's real centroid
                           than to the other perturbations' centroids?
:func:`response_test`      energy distance of real perturbed vs control cells with a
                           permutation p-value: is there a response to predict at all?
=========================  =================================================================

Examples
--------
>>> import numpy as np
>>> from scotm.effects import systema_r
>>> ref = np.zeros(5)
>>> round(systema_r(np.arange(5.0), np.arange(5.0) * 2, ref), 3)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from ._errors import ScotmInputError
from .metrics import energy_distance, pearson


def systema_r(pred_mean: np.ndarray, real_mean: np.ndarray, perturbed_mean: np.ndarray) -> float:
    """Pearson r of ``pred_mean - perturbed_mean`` and ``real_mean - perturbed_mean``.

    Parameters
    ----------
    pred_mean, real_mean
        Per-gene means of the predicted and real perturbed cells.
    perturbed_mean
        The reference: the per-gene mean over all perturbations' real cells (each
        perturbation weighted equally; see :func:`perturbed_centroid`). Relative to it, a
        prediction that only reproduces the response common to all perturbations scores ~0.

    Examples
    --------
    >>> import numpy as np
    >>> systema_r(np.ones(3), np.array([1.0, 2.0, 3.0]), np.ones(3))  # no specific change
    nan
    """
    ref = np.asarray(perturbed_mean, dtype=np.float64)
    return pearson(np.asarray(pred_mean) - ref, np.asarray(real_mean) - ref)


def perturbed_centroid(real_means: pd.DataFrame) -> np.ndarray:
    """Mean of the perturbations' real mean profiles (rows), each perturbation weighted once.

    Examples
    --------
    >>> import pandas as pd
    >>> perturbed_centroid(pd.DataFrame([[0.0, 2.0], [2.0, 0.0]])).tolist()
    [1.0, 1.0]
    """
    return real_means.to_numpy(dtype=np.float64).mean(axis=0)


def centroid_ranks(pred_means: pd.DataFrame, real_means: pd.DataFrame) -> pd.Series:
    """For each predicted perturbation, the rank of its own real centroid by distance.

    Rank 0: the prediction is nearer (Euclidean, over the genes) to the real centroid of its
    own perturbation than to any other perturbation's; rank ``n - 1``: the farthest.

    Parameters
    ----------
    pred_means
        Perturbations x genes: the predicted mean profiles (the rows to rank).
    real_means
        Perturbations x genes: the real mean profiles of at least every predicted
        perturbation, plus any others to compete with.

    Returns
    -------
    A Series of integer ranks indexed like ``pred_means``; ``(ranks == 0).mean()`` is the
    centroid accuracy, ``1 - ranks / (len(real_means) - 1)`` a normalised score.

    Examples
    --------
    >>> import pandas as pd
    >>> real = pd.DataFrame([[0.0, 0.0], [5.0, 5.0]], index=["a", "b"])
    >>> centroid_ranks(real.loc[["b"]] + 0.1, real).tolist()
    [0]
    """
    missing = pred_means.index.difference(real_means.index)
    if len(missing):
        raise ScotmInputError(
            f"real_means has no row for {len(missing)} predicted perturbation(s) "
            f"(e.g. {list(missing[:3])}); pass the real centroid of every predicted one"
        )
    if len(real_means) < 2:
        raise ScotmInputError("centroid ranks need the real centroids of at least 2 perturbations")
    if list(pred_means.columns) != list(real_means.columns):
        raise ScotmInputError(
            "pred_means and real_means must have the same genes in the same order"
        )
    R = real_means.to_numpy(dtype=np.float64)
    ranks = {}
    for name, row in pred_means.iterrows():
        d = np.linalg.norm(R - row.to_numpy(dtype=np.float64), axis=1)
        own = d[real_means.index.get_loc(name)]
        ranks[name] = int((d < own).sum())
    return pd.Series(ranks, name="centroid_rank", dtype=int)


def response_test(
    ctrl: np.ndarray,
    real: np.ndarray,
    *,
    n_perm: int = 200,
    n_pcs: int = 30,
    max_cells: int = 500,
    seed: int = 0,
) -> tuple[float, float]:
    """Is a perturbation's response distinguishable from control? Energy distance + p-value.

    The cells of both groups are projected on ``n_pcs`` principal components fit on both,
    the energy distance between the groups is computed, and the labels are permuted
    ``n_perm`` times. The p-value is ``(1 + #{permuted >= observed}) / (1 + n_perm)``.

    Parameters
    ----------
    ctrl, real
        Cells x genes (dense, log-normalised) of the control and the perturbed group.
    max_cells
        Each group is subsampled to at most this many cells (seeded) to bound the cost.

    Returns
    -------
    ``(edist, p_value)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(40, 10)), rng.normal(size=(40, 10)) + 2
    >>> response_test(a, b, n_perm=50)[1] < 0.05
    True
    """
    ctrl = np.asarray(ctrl, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if len(ctrl) < 2 or len(real) < 2:
        raise ScotmInputError("the response test needs at least 2 control and 2 perturbed cells")
    rng = np.random.default_rng(seed)

    def sub(m: np.ndarray) -> np.ndarray:
        return m[np.sort(rng.choice(len(m), max_cells, replace=False))] if len(m) > max_cells else m

    c, r = sub(ctrl), sub(real)
    both = np.vstack([c, r])
    n_comp = max(1, min(n_pcs, both.shape[0] - 1, both.shape[1]))
    Z = PCA(n_components=n_comp, random_state=seed).fit_transform(both)
    n_c = len(c)
    observed = energy_distance(Z[:n_c], Z[n_c:])
    hits = 0
    for _ in range(n_perm):
        perm = rng.permutation(len(Z))
        hits += energy_distance(Z[perm[:n_c]], Z[perm[n_c:]]) >= observed
    return observed, (1 + hits) / (1 + n_perm)


def means(X: np.ndarray, labels: np.ndarray, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-label mean rows of a dense cells x genes matrix (a labels x genes DataFrame).

    Examples
    --------
    >>> import numpy as np
    >>> means(np.array([[1.0], [3.0], [5.0]]), np.array(["a", "a", "b"])).iloc[:, 0].tolist()
    [2.0, 5.0]
    """
    labels = np.asarray(labels).astype(str)
    order = list(dict.fromkeys(labels)) if names is None else [str(n) for n in names]
    return pd.DataFrame(
        np.vstack([np.asarray(X[labels == n], dtype=np.float64).mean(0) for n in order]),
        index=order,
    )
