"""Baselines on synthetic data whose answer is known."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from scotm import ScotmInputError
from scotm.baselines import BASELINES, Identity, MeanShift, PcaOT


def _log_data(blocks: dict[tuple[str, str], np.ndarray]) -> ad.AnnData:
    X = np.vstack(list(blocks.values())).astype(np.float32)
    obs = [(cond, t) for (t, cond), b in blocks.items() for _ in range(len(b))]
    index = [f"c{i}" for i in range(len(obs))]
    a = ad.AnnData(X=X, obs=pd.DataFrame(obs, columns=["condition", "cell_type"], index=index))
    a.var_names = [f"G{i}" for i in range(a.n_vars)]
    return a


def test_identity_returns_control():
    rng = np.random.default_rng(0)
    train = _log_data(
        {("A", "control"): rng.random((5, 4)), ("A", "stimulated"): rng.random((5, 4))}
    )
    pred = Identity().fit(train).predict(train[:5])
    np.testing.assert_array_equal(pred.X, train[:5].X)
    assert list(pred.obs_names) == list(train.obs_names[:5])
    assert pred.uns["scotm_prediction"]["method"] == "identity"


def test_mean_shift_recovers_additive_shift():
    rng = np.random.default_rng(0)
    n_genes = 8
    delta = np.linspace(-1.0, 2.0, n_genes)
    blocks = {}
    for t, base in (("A", 3.0), ("B", 5.0)):
        blocks[(t, "control")] = base + rng.normal(0, 0.1, (30, n_genes))
        blocks[(t, "stimulated")] = base + delta + rng.normal(0, 0.1, (30, n_genes))
    # the held-out type's control cells are in training, far from the rest: they must not
    # skew the shift, which is learned from types seen in both conditions
    blocks[("H", "control")] = 10.0 + rng.normal(0, 0.1, (30, n_genes))
    train = _log_data(blocks)
    model = MeanShift().fit(train)
    X = train.X
    expect = X[train.obs.condition.eq("stimulated").to_numpy()].mean(0) - X[
        train.obs.cell_type.isin(["A", "B"]).to_numpy()
        & train.obs.condition.eq("control").to_numpy()
    ].mean(0)
    np.testing.assert_allclose(model.delta_, expect, atol=1e-5)
    np.testing.assert_allclose(model.delta_, delta, atol=0.1)
    h = train[train.obs.cell_type.eq("H").to_numpy()].copy()
    np.testing.assert_allclose(model.predict(h).X, h.X + model.delta_, atol=1e-5)


def test_mean_shift_clips_at_zero():
    train = _log_data(
        {
            ("A", "control"): np.array([[1.5, 1.0], [1.25, 1.2], [1.75, 1.4]]),
            ("A", "stimulated"): np.array([[0.0, 3.5]] * 3),
        }
    )  # log-like values: integer ones would be refused as raw counts
    pred = MeanShift().fit(train).predict(train[:3].copy())
    np.testing.assert_allclose(pred.X, [[0.0, 3.3], [0.0, 3.5], [0.25, 3.7]])


def test_pca_ot_recovers_per_cell_type_shift():
    """Three well-separated types, each with its own response: new control cells of each type
    get their own type's response (one mean shift could not)."""
    rng = np.random.default_rng(0)
    n_genes = 20
    profiles = {t: rng.uniform(1.0, 6.0, n_genes) for t in "ABC"}
    shifts = {t: rng.choice([-0.8, 0.8], n_genes) for t in "ABC"}
    blocks = {}
    for t in "ABC":
        blocks[(t, "control")] = profiles[t] + rng.normal(0, 0.05, (40, n_genes))
        blocks[(t, "stimulated")] = profiles[t] + shifts[t] + rng.normal(0, 0.05, (40, n_genes))
    model = PcaOT(k=10).fit(_log_data(blocks))
    for t in "ABC":
        new = _log_data({(t, "control"): profiles[t] + rng.normal(0, 0.05, (25, n_genes))})
        pred = model.predict(new)
        got = np.asarray(pred.X - new.X).mean(0)
        np.testing.assert_allclose(got, shifts[t], atol=0.05)
        assert pred.var_names.equals(new.var_names)


def test_exact_ot_on_a_permutation_recovers_the_pairing():
    """Perturbed codes are the control codes shuffled and translated by t: under a squared
    Euclidean cost the optimal plan undoes the shuffle, so every shift is exactly t."""
    from scotm.transport import barycentric_shift, coupling

    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 5))
    perm = rng.permutation(50)
    t = np.array([0.3, -0.2, 0.1, 0.0, 0.5])
    z_pert = z[perm] + t
    G = coupling(z, z_pert, "emd")
    np.testing.assert_array_equal(G.argmax(1), np.argsort(perm))
    np.testing.assert_allclose(G.sum(1), 1 / 50)
    np.testing.assert_allclose(
        barycentric_shift(z, z_pert, G), np.broadcast_to(t, z.shape), atol=1e-9
    )


def test_cosine_topk_weights():
    from scotm.transport import cosine_topk

    ref = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    idx, w = cosine_topk(np.array([[2.0, 0.1]]), ref, k=2)
    assert set(idx[0]) == {0, 2}
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert w[0][list(idx[0]).index(0)] > w[0][list(idx[0]).index(2)]


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_bad_input(name):
    rng = np.random.default_rng(0)
    train = _log_data(
        {("A", "control"): rng.random((5, 4)), ("A", "stimulated"): rng.random((5, 4))}
    )
    with pytest.raises(ScotmInputError, match="obs key 'celltype' not found"):
        BASELINES[name](cell_type_key="celltype").fit(train)
    with pytest.raises(ScotmInputError, match="label 'ctrl' not found"):
        BASELINES[name](control="ctrl").fit(train)
    model = BASELINES[name]().fit(train)
    with pytest.raises(
        ScotmInputError, match="1 of the model.s 4 genes are missing from the control cells"
    ):
        model.predict(train[:, :3].copy())
    bad = train.copy()
    bad.X[0, 0] = np.nan
    with pytest.raises(ScotmInputError, match="in 1 of 10 cells"):
        BASELINES[name]().fit(bad)


def test_pca_ot_needs_a_type_with_both_conditions():
    train = _log_data({("A", "control"): np.random.default_rng(0).random((5, 4))})
    train.obs["condition"] = pd.Categorical(["control"] * 4 + ["stimulated"])
    train.obs.loc[train.obs_names[-1], "cell_type"] = "B"
    with pytest.raises(ScotmInputError, match="no training cell type has both"):
        PcaOT().fit(train)
