"""The pinned evaluation protocol of EVALUATION.md, and nothing else.

Every accuracy number scotm reports goes through :func:`evaluate`. The top-100 DEGs are chosen
from the real control and perturbed cells only, so a prediction never influences which genes
it is scored on.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from sklearn.decomposition import PCA

from ._arrays import dense64 as dense  # public: scotm.metrics.dense (float64)
from ._errors import ScotmInputError

N_DEGS = 100
EDIST_PCS = 30
EDIST_MAX_CELLS = 1500

METRICS = (
    "r2_mean_all",
    "r2_mean_deg",
    "r2_var_deg",
    "delta_r_all",
    "delta_r_deg",
    "deg_overlap",
    "edist",
)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; NaN when either side is constant (e.g. identity's zero predicted response).

    Parameters
    ----------
    a, b
        Two vectors of the same length.

    Returns
    -------
    The correlation as a float, or NaN when ``a`` or ``b`` has zero variance.

    Examples
    --------
    >>> round(pearson([1, 2, 3], [2, 4, 7]), 3)
    0.993
    >>> pearson([1, 1, 1], [1, 2, 3])
    nan
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def rank_genes(ctrl: ad.AnnData, other: ad.AnnData, n: int = N_DEGS) -> list[str]:
    """Top-``n`` genes of a Wilcoxon test, ``other`` vs reference ``ctrl`` (scanpy's ranking)."""
    X = sp.vstack([sp.csr_matrix(ctrl.X), sp.csr_matrix(other.X)]).tocsr()
    groups = np.array(["control"] * ctrl.n_obs + ["perturbed"] * other.n_obs)
    obs = pd.DataFrame({"g": pd.Categorical(groups)}, index=[str(i) for i in range(len(groups))])
    tmp = ad.AnnData(X=X, obs=obs)
    tmp.var_names = ctrl.var_names
    tmp.uns["log1p"] = {"base": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.rank_genes_groups(
            tmp, "g", groups=["perturbed"], reference="control", method="wilcoxon", n_genes=n
        )
    return [str(g) for g in tmp.uns["rank_genes_groups"]["names"]["perturbed"][:n]]


def top_degs(ctrl: ad.AnnData, real: ad.AnnData, n: int = N_DEGS) -> list[str]:
    """The held-out type's top-``n`` DEGs: real perturbed vs control, real cells only."""
    return rank_genes(ctrl, real, n)


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance ``2 E|x-y| - E|x-x'| - E|y-y'|`` with Euclidean distances."""
    from scipy.spatial.distance import cdist

    xy = cdist(x, y).mean()
    xx = cdist(x, x).mean()
    yy = cdist(y, y).mean()
    return float(2 * xy - xx - yy)


def edist(ctrl: ad.AnnData, real: ad.AnnData, pred: ad.AnnData, seed: int = 0) -> float:
    """Energy distance between pred and real in a 30-PC PCA fit on ctrl + real."""
    c, r, p = dense(ctrl.X), dense(real.X), dense(pred.X)
    n_comp = min(EDIST_PCS, c.shape[0] + r.shape[0] - 1, c.shape[1])
    pca = PCA(n_components=n_comp, random_state=seed).fit(np.vstack([c, r]))
    rng = np.random.default_rng(seed)

    def sub(m: np.ndarray) -> np.ndarray:
        if m.shape[0] > EDIST_MAX_CELLS:
            m = m[np.sort(rng.choice(m.shape[0], EDIST_MAX_CELLS, replace=False))]
        return pca.transform(m)

    return energy_distance(sub(p), sub(r))


def check_genes(ref: ad.AnnData, other: ad.AnnData, name: str) -> None:
    """Raise :class:`~scotm.ScotmInputError` unless ``other`` has ``ref``'s genes in its order.

    Parameters
    ----------
    ref
        The reference cells (the controls), whose ``var_names`` are the expected genes.
    other
        The cells to check.
    name
        What ``other`` is called in the message (e.g. ``"pred"``).

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> a = ad.AnnData(np.zeros((2, 2)))
    >>> check_genes(a, a.copy(), "pred")  # same genes: no error
    >>> check_genes(a, a[:, :1].copy(), "pred")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scotm._errors.ScotmInputError: pred has 1 genes but control has 2 (1 missing, e.g. ['1']); ...
    """
    if other.n_vars != ref.n_vars or not np.array_equal(other.var_names, ref.var_names):
        missing = ref.var_names.difference(other.var_names)
        raise ScotmInputError(
            f"{name} has {other.n_vars} genes but control has {ref.n_vars} "
            f"({len(missing)} missing, e.g. {list(missing[:3])}); "
            f"subset both to the same genes in the same order: {name} = {name}[:, ctrl.var_names]"
        )


def evaluate(
    ctrl: ad.AnnData,
    real: ad.AnnData,
    pred: ad.AnnData,
    degs: list[str] | None = None,
    *,
    n_degs: int = N_DEGS,
    seed: int = 0,
) -> dict[str, float]:
    """Score a prediction of one held-out cell type with every pinned metric.

    Parameters
    ----------
    ctrl, real, pred
        Log-normalised control, real perturbed and predicted cells of the held-out type,
        over the same genes in the same order.
    degs
        Precomputed top DEGs (from :func:`top_degs`); computed from ``ctrl``/``real`` if omitted.

    Returns
    -------
    dict with ``r2_mean_all``, ``r2_mean_deg``, ``r2_var_deg``, ``delta_r_all``,
    ``delta_r_deg``, ``deg_overlap`` and ``edist``.

    Examples
    --------
    >>> m = evaluate(ctrl, real, pred)  # doctest: +SKIP
    >>> round(m["r2_mean_deg"], 3)  # doctest: +SKIP
    """
    check_genes(ctrl, real, "real")
    check_genes(ctrl, pred, "pred")
    from .validate import check_finite  # validate imports nothing of metrics

    for name, a in (("ctrl", ctrl), ("real", real), ("pred", pred)):
        if a.n_obs < 2:
            raise ScotmInputError(f"{name} has {a.n_obs} cells; evaluation needs at least 2")
        check_finite(a, name)
    if degs is None:
        degs = top_degs(ctrl, real, n_degs)
    idx = ctrl.var_names.get_indexer(degs)
    if (idx < 0).any():
        raise ScotmInputError("some DEGs are not among the genes; recompute them on these genes")
    c, r, p = dense(ctrl.X), dense(real.X), dense(pred.X)
    mc, mr, mp = c.mean(0), r.mean(0), p.mean(0)
    vr, vp = r.var(0), p.var(0)
    pred_degs = rank_genes(ctrl, pred, len(degs))
    return {
        "r2_mean_all": pearson(mp, mr) ** 2,
        "r2_mean_deg": pearson(mp[idx], mr[idx]) ** 2,
        "r2_var_deg": pearson(vp[idx], vr[idx]) ** 2,
        "delta_r_all": pearson(mp - mc, mr - mc),
        "delta_r_deg": pearson(mp[idx] - mc[idx], mr[idx] - mc[idx]),
        "deg_overlap": len(set(pred_degs) & set(degs)) / len(degs),
        "edist": edist(ctrl, real, pred, seed=seed),
    }
