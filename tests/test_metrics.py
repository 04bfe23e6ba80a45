"""The pinned metrics on small, hand-checkable data."""

from __future__ import annotations

import math

import anndata as ad
import numpy as np
import pytest

from scotm import ScotmInputError
from scotm.metrics import METRICS, energy_distance, evaluate, top_degs


def _adata(X: np.ndarray, genes=None) -> ad.AnnData:
    a = ad.AnnData(X=np.asarray(X, dtype=np.float32))
    a.var_names = genes if genes is not None else [f"G{i}" for i in range(a.n_vars)]
    a.obs_names = [f"c{i}" for i in range(a.n_obs)]
    return a


@pytest.fixture
def trio():
    """Log-normalised ctrl/real over 30 genes; genes 0-4 are strongly up in real."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 2.0, 30)
    ctrl = base + rng.normal(0, 0.2, (40, 30))
    real = base + rng.normal(0, 0.2, (40, 30))
    real[:, :5] += 2.0
    return _adata(np.clip(ctrl, 0, None)), _adata(np.clip(real, 0, None))


def test_top_degs_are_the_shifted_genes(trio):
    ctrl, real = trio
    assert set(top_degs(ctrl, real, n=5)) == {f"G{i}" for i in range(5)}


def test_perfect_prediction(trio):
    ctrl, real = trio
    m = evaluate(ctrl, real, real.copy(), n_degs=10)
    assert set(m) == set(METRICS)
    for key in ("r2_mean_all", "r2_mean_deg", "r2_var_deg", "delta_r_all", "delta_r_deg"):
        assert m[key] == pytest.approx(1.0)
    assert m["deg_overlap"] == 1.0  # real vs itself finds the same DEGs
    assert m["edist"] == pytest.approx(0.0, abs=1e-9)


def test_identity_has_no_response(trio):
    ctrl, real = trio
    m = evaluate(ctrl, real, ctrl.copy(), n_degs=10)
    assert math.isnan(m["delta_r_all"]) and math.isnan(m["delta_r_deg"])
    assert m["r2_mean_deg"] < 0.5 < m["edist"]


def test_r2_is_squared_pearson_not_r2_score(trio):
    """An affine map of the real means scores r2 1: the protocol's R^2 is a squared Pearson r
    (sklearn's r2_score would be far below 1 here)."""
    ctrl, real = trio
    pred = _adata(2.0 * real.X + 1.0)
    m = evaluate(ctrl, real, pred, n_degs=10)
    assert m["r2_mean_all"] == pytest.approx(1.0)
    assert m["r2_mean_deg"] == pytest.approx(1.0)
    assert m["r2_var_deg"] == pytest.approx(1.0)


def test_degs_are_chosen_without_the_prediction(trio):
    ctrl, real = trio
    degs = top_degs(ctrl, real, n=5)
    noise = _adata(np.random.default_rng(1).uniform(0, 3, real.shape))
    assert evaluate(ctrl, real, noise, n_degs=5)["deg_overlap"] < 1.0
    assert top_degs(ctrl, real, n=5) == degs


def test_energy_distance_hand_values():
    x = np.array([[0.0], [1.0]])
    assert energy_distance(x, x) == 0.0
    # E|x-y| = mean(3, 4, 2, 3) = 3, E|x-x'| = E|y-y'| = 0.5: 2 * 3 - 0.5 - 0.5 = 5
    assert energy_distance(x, x + 3.0) == pytest.approx(5.0)
    assert energy_distance(np.zeros((1, 2)), np.array([[3.0, 4.0]])) == pytest.approx(10.0)


def test_mismatched_genes_and_too_few_cells(trio):
    ctrl, real = trio
    with pytest.raises(ScotmInputError, match="pred has 29 genes but control has 30"):
        evaluate(ctrl, real, real[:, 1:].copy())
    with pytest.raises(ScotmInputError, match="at least 2"):
        evaluate(ctrl, real, real[:1].copy())
