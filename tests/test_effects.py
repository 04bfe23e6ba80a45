"""Metrics for weak effects (scotm.effects): hand-checkable cases that can fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scotm._errors import ScotmInputError
from scotm.effects import centroid_ranks, means, perturbed_centroid, response_test, systema_r


def test_systema_r_ignores_the_shared_response():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=50)
    specific = rng.normal(size=50)
    ref = shared  # the centroid of all perturbations = the response they share
    real = shared + specific
    # predicting only the shared response: no specific change, r is undefined (NaN)
    assert np.isnan(systema_r(shared, real, ref))
    # the specific part with noise: high r; its opposite: r = -1
    assert systema_r(shared + specific + 0.1 * rng.normal(size=50), real, ref) > 0.95
    assert systema_r(shared - specific, real, ref) == pytest.approx(-1.0)


def test_perturbed_centroid_weights_each_perturbation_once():
    m = pd.DataFrame([[0.0, 4.0], [2.0, 0.0], [4.0, 2.0]], index=["a", "b", "c"])
    np.testing.assert_allclose(perturbed_centroid(m), [2.0, 2.0])


def test_centroid_ranks():
    real = pd.DataFrame([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], index=["a", "b", "c"])
    pred = pd.DataFrame([[9.0, 1.0], [1.0, 0.0], [9.0, 0.0]], index=["b", "c", "a"])
    ranks = centroid_ranks(pred, real)
    # b is nearest its own centroid; c's prediction sits at a (c third); a's sits at b
    assert ranks.to_dict() == {"b": 0, "c": 2, "a": 1}
    assert (ranks == 0).mean() == pytest.approx(1 / 3)


def test_centroid_ranks_refuses_missing_rows():
    real = pd.DataFrame([[0.0], [1.0]], index=["a", "b"])
    with pytest.raises(ScotmInputError, match="no row for 1 predicted"):
        centroid_ranks(pd.DataFrame([[0.0]], index=["z"]), real)


def test_response_test_separates_real_from_null_effects():
    rng = np.random.default_rng(1)
    ctrl = rng.normal(size=(60, 20))
    null = rng.normal(size=(60, 20))
    shifted = rng.normal(size=(60, 20)) + np.r_[np.full(5, 1.5), np.zeros(15)]
    e_null, p_null = response_test(ctrl, null, n_perm=100)
    e_real, p_real = response_test(ctrl, shifted, n_perm=100)
    assert p_real < 0.02 < p_null
    assert e_real > 5 * abs(e_null)


def test_response_test_is_seeded():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(30, 8)), rng.normal(size=(30, 8))
    assert response_test(a, b, n_perm=30, seed=3) == response_test(a, b, n_perm=30, seed=3)


def test_means_by_label_in_given_order():
    X = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    m = means(X, np.array(["x", "x", "y"]), names=["y", "x"])
    assert m.index.tolist() == ["y", "x"]
    np.testing.assert_allclose(m.to_numpy(), [[5.0, 5.0], [2.0, 1.0]])
