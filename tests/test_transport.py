"""The OT layer: plans have the right marginals, shifts land where they should."""

from __future__ import annotations

import numpy as np
import pytest

from scotm import transport


@pytest.fixture
def clouds():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(40, 3))
    tgt = src[rng.permutation(40)] + np.array([2.0, 0.0, -1.0])
    return src, tgt


@pytest.mark.parametrize("method", ["emd", "sinkhorn", "minibatch"])
def test_plan_marginals(clouds, method):
    src, tgt = clouds
    G = transport.coupling(src, tgt[:30], method, batch_size=16)
    np.testing.assert_allclose(G.sum(1), 1 / 40, atol=1e-6)
    # mini-batches of unequal shares keep the source marginal exactly, the target's nearly
    tol = 0.1 / 30 if method == "minibatch" else 1e-6
    np.testing.assert_allclose(G.sum(0), 1 / 30, atol=tol)
    assert abs(G.sum() - 1) < 1e-6


def test_exact_plan_recovers_a_translation(clouds):
    src, tgt = clouds
    G = transport.coupling(src, tgt)
    shift = transport.barycentric_shift(src, tgt, G)
    np.testing.assert_allclose(shift, np.broadcast_to([2.0, 0.0, -1.0], shift.shape), atol=1e-8)


def test_unknown_method(clouds):
    with pytest.raises(ValueError, match="unknown OT method"):
        transport.coupling(*clouds, "magic")


def test_ot_shifts_within_groups_never_cross_types():
    # two types far apart; each perturbed type moves by its own vector
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 50
    zc = np.vstack([a, b])
    zp = np.vstack([a + [1, 0], b + [0, -3]])
    g = np.array(["A"] * 20 + ["B"] * 20)
    mask, shifts = transport.ot_shifts(zc, zp, g, g)
    assert mask.all()
    np.testing.assert_allclose(shifts[:20].mean(0), [1, 0], atol=0.3)
    np.testing.assert_allclose(shifts[20:].mean(0), [0, -3], atol=0.3)
    mask_m, mean = transport.mean_shifts(zc, zp, g, g)
    np.testing.assert_allclose(mean[:20], np.broadcast_to([1, 0], (20, 2)), atol=1e-9)


def test_groups_without_perturbed_cells_get_no_shift():
    z = np.arange(12, dtype=float).reshape(6, 2)
    gc = np.array(["A", "A", "A", "H", "H", "H"])
    mask, shifts = transport.ot_shifts(z, z[:3] + 1, gc, np.array(["A"] * 3))
    assert mask.tolist() == [True] * 3 + [False] * 3
    assert shifts.shape == (3, 2)


def test_transfer_shifts_per_cell_and_single():
    ref = np.array([[1.0, 0.0], [0.0, 1.0]])
    shifts = np.array([[5.0, 0.0], [0.0, 7.0]])
    query = np.array([[1.0, 0.01], [0.01, 1.0]])
    s, idx, w = transport.transfer_shifts(query, ref, shifts, k=1)
    np.testing.assert_allclose(s, shifts)
    assert (idx[:, 0] == [0, 1]).all() and np.allclose(w, 1)
    single, _, _ = transport.transfer_shifts(query, ref, shifts, k=1, per_cell=False)
    np.testing.assert_allclose(single, [[2.5, 3.5], [2.5, 3.5]])
