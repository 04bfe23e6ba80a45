"""Property-based tests (hypothesis): the metrics and the counts-vs-log rule.

Data are drawn from a seed and a few shape parameters that hypothesis picks and shrinks;
examples are few and derandomised, so the file runs in seconds and the same way everywhere.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scotm import metrics, pp, validate
from scotm._errors import ScotmInputError

FAST = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: metrics run scanpy's Wilcoxon test and a PCA (~0.1 s a call): fewer examples
METRIC = settings(FAST, max_examples=8)

seeds = st.integers(0, 2**32 - 1)


def _log_cells(rng, n_cells: int, n_genes: int, density: float, shift=None) -> np.ndarray:
    """Non-negative log-like expression with exact zeros; ``shift`` moves some genes."""
    X = rng.gamma(2.0, 0.7, (n_cells, n_genes)) * (rng.random((n_cells, n_genes)) < density)
    if shift is not None:
        X = X + shift * (X > 0)
    return X.astype(np.float32)


def _adata(X, sparse: bool, genes) -> ad.AnnData:
    a = ad.AnnData(sp.csr_matrix(X) if sparse else np.asarray(X))
    a.var_names = genes
    a.obs_names = [f"c{i}" for i in range(a.n_obs)]
    return a


@st.composite
def fold(draw, min_density: float = 0.05):
    rng = np.random.default_rng(draw(seeds))
    n_genes = draw(st.integers(12, 40))
    density = draw(st.floats(min_density, 1.0))
    nc, nr = draw(st.integers(3, 12)), draw(st.integers(3, 12))
    shift = np.where(np.arange(n_genes) < n_genes // 3, 1.5, 0.0)
    genes = [f"g{i}" for i in range(n_genes)]
    ctrl = _log_cells(rng, nc, n_genes, density)
    real = _log_cells(rng, nr, n_genes, density, shift)
    return ctrl, real, genes, rng


def _score(ctrl, real, pred, genes, sparse=False, **kw):
    n = min(10, len(genes))
    return metrics.evaluate(
        _adata(ctrl, sparse, genes),
        _adata(real, sparse, genes),
        _adata(pred, sparse, genes),
        n_degs=n,
        **kw,
    )


def _pearson_defined(a, b) -> bool:
    return bool(np.std(a) > 0 and np.std(b) > 0)


@METRIC
@given(fold())
def test_identical_prediction_scores_perfectly(data):
    ctrl, real, genes, _ = data
    m = _score(ctrl, real, real.copy(), genes)
    degs = metrics.top_degs(_adata(ctrl, False, genes), _adata(real, False, genes), 10)
    idx = [genes.index(g) for g in degs]
    mr, vr, mc = real.mean(0), real.var(0), ctrl.mean(0)
    for key, vec in (
        ("r2_mean_all", mr),
        ("r2_mean_deg", mr[idx]),
        ("r2_var_deg", vr[idx]),
        ("delta_r_all", mr - mc),
        ("delta_r_deg", mr[idx] - mc[idx]),
    ):
        if np.std(vec) > 0:
            assert m[key] == pytest.approx(1.0, abs=1e-9), key
        else:  # the one documented NaN: a constant vector has no correlation
            assert np.isnan(m[key]), key
    assert m["deg_overlap"] == 1.0
    assert abs(m["edist"]) < 1e-8


@METRIC
@given(fold(min_density=0.02), st.floats(-1.0, 1.0))
def test_no_nan_but_the_documented_ones_on_sparse_data(data, noise):
    """Very sparse data (all-zero genes and cells included): a metric is NaN only where a
    vector it correlates is constant."""
    ctrl, real, genes, rng = data
    pred = np.clip(real.mean(0) + noise * rng.random(real.shape), 0, None).astype(np.float32)
    pred[: max(1, len(pred) // 2)] = 0.0  # half the predicted cells all zero
    m = _score(ctrl, real, pred, genes, sparse=True)
    mc, mr, mp = ctrl.mean(0), real.mean(0), pred.mean(0)
    assert np.isfinite(m["deg_overlap"]) and 0 <= m["deg_overlap"] <= 1
    assert np.isfinite(m["edist"]) and m["edist"] >= -1e-9
    pairs = {"r2_mean_all": (mp, mr), "delta_r_all": (mp - mc, mr - mc)}
    for key, (a, b) in pairs.items():
        assert np.isfinite(m[key]) == _pearson_defined(a, b), key
    for key in ("r2_mean_all", "r2_mean_deg", "r2_var_deg"):
        assert np.isnan(m[key]) or 0 <= m[key] <= 1 + 1e-12
    for key in ("delta_r_all", "delta_r_deg"):
        assert np.isnan(m[key]) or -1 - 1e-12 <= m[key] <= 1 + 1e-12


@METRIC
@given(fold(), st.floats(0.0, 1.0))
def test_sparse_dense_and_cell_order_invariance(data, noise):
    ctrl, real, genes, rng = data
    pred = np.clip(real + noise * rng.normal(size=real.shape), 0, None).astype(np.float32)
    dense = _score(ctrl, real, pred, genes)
    sparse = _score(ctrl, real, pred, genes, sparse=True)
    for key in metrics.METRICS:
        assert sparse[key] == pytest.approx(dense[key], rel=1e-9, abs=1e-9, nan_ok=True), key
    perm = rng.permutation(len(pred))
    shuffled = _score(ctrl, real, pred[perm], genes)
    for key in ("r2_mean_all", "r2_mean_deg", "r2_var_deg", "delta_r_all", "delta_r_deg"):
        assert shuffled[key] == pytest.approx(dense[key], rel=1e-6, abs=1e-9, nan_ok=True), key
    assert shuffled["edist"] == pytest.approx(dense["edist"], rel=1e-6, abs=1e-9)


# ------------------------------------------------------------------ the counts-vs-log rule


@st.composite
def counts(draw):
    """Counts with cells of different depth; deep (max > 20) or shallow ones."""
    rng = np.random.default_rng(draw(seeds))
    n_cells, n_genes = draw(st.integers(20, 120)), draw(st.integers(20, 300))
    shape, scale = draw(st.floats(0.1, 2.0)), draw(st.floats(0.2, 5.0))
    lib = rng.lognormal(0, 0.4, (n_cells, 1))
    X = rng.poisson(lib * rng.gamma(shape, scale, n_genes)).astype(np.float32)
    X[0, 0] += 1  # never all zero
    return X, rng


def _log1p_normalised(X: np.ndarray, target: float = 1e4) -> np.ndarray:
    lib = X.sum(1, keepdims=True)
    return np.log1p(np.divide(X * target, lib, where=lib > 0, out=np.zeros_like(X)))


def _scale(X, sparse: bool) -> str:
    return validate.detect_scale(ad.AnnData(sp.csr_matrix(X) if sparse else X))


@FAST
@given(counts(), st.data())
def test_counts_stay_counts_under_subsetting_scaling_and_layout(c, data):
    X, rng = c
    assert _scale(X, False) == _scale(X, True) == "counts"
    n = data.draw(st.integers(10, len(X)))
    sub = X[np.sort(rng.choice(len(X), n, replace=False))]
    if sub.sum() > 0:
        assert _scale(sub, data.draw(st.booleans())) == "counts"
    k = data.draw(st.integers(1, 5))
    assert _scale(X * k, data.draw(st.booleans())) == "counts"


@FAST
@given(counts(), st.data())
def test_log_stays_log_under_subsetting_scaling_and_layout(c, data):
    X, rng = c
    L = _log1p_normalised(X, data.draw(st.sampled_from([1e4, 1e6])))
    assert _scale(L, False) == _scale(L, True) == "log"
    n = data.draw(st.integers(3, len(X)))
    sub = L[np.sort(rng.choice(len(X), n, replace=False))]
    if sub.sum() > 0:
        assert _scale(sub, data.draw(st.booleans())) == "log"
    c_ = data.draw(st.floats(0.5, 2.0))  # another log base
    assert _scale(L * c_, data.draw(st.booleans())) == "log"


@FAST
@given(counts(), st.floats(1.0, 1e6), st.booleans())
def test_unlogged_normalised_data_are_always_refused(c, target, sparse):
    X, _ = c
    live = X.sum(1) > 0
    N = X[live] * (target / X[live].sum(1, keepdims=True))
    if np.allclose(N, np.round(N)):  # normalised values that happen to be integers
        return
    with pytest.raises(ScotmInputError, match="not log-transformed"):
        _scale(N.astype(np.float64), sparse)


@FAST
@given(counts(), st.data())
def test_every_negative_value_is_found(c, data):
    X, _ = c
    n_neg = data.draw(st.integers(1, 3))
    flat = data.draw(
        st.lists(st.integers(0, X.size - 1), min_size=n_neg, max_size=n_neg, unique=True)
    )
    X = X.copy()
    X.ravel()[flat] = -1.0
    with pytest.raises(ScotmInputError, match=rf"negative values \({n_neg} of them\)"):
        validate.check_matrix(ad.AnnData(sp.csr_matrix(X) if data.draw(st.booleans()) else X))


@FAST
@given(counts())
def test_prepare_sparse_equals_dense(c):
    X, _ = c
    genes = [f"g{i}" for i in range(X.shape[1])]
    a, b = _adata(X, False, genes), _adata(X, True, genes)
    pa, pb = pp.prepare(a, n_top_genes=None), pp.prepare(b, n_top_genes=None)
    np.testing.assert_array_equal(pa.X.toarray(), pb.X.toarray())
    assert pa.uns["scotm_pp"] == pb.uns["scotm_pp"]
