"""The OT layer: plans have the right marginals, shifts land where they should."""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pytest
from scipy import sparse

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


def test_balanced_weights_count_each_type_once():
    # nine references of type a (shift 0) and one of type b (shift 1), all as similar to the
    # query: by similarity alone b gets a tenth of the weight, balanced it gets half
    ref = np.ones((10, 2))
    shifts = np.r_[np.zeros(9), 1.0][:, None]
    types = np.array(["a"] * 9 + ["b"])
    np.testing.assert_allclose(transport.group_balance(types), [1 / 9] * 9 + [1.0])
    query = np.ones((1, 2))
    plain, _, _ = transport.transfer_shifts(query, ref, shifts, k=10)
    balanced, _, w = transport.transfer_shifts(
        query, ref, shifts, k=10, ref_weights=transport.group_balance(types)
    )
    np.testing.assert_allclose(plain, [[0.1]])
    np.testing.assert_allclose(balanced, [[0.5]])
    np.testing.assert_allclose(w.sum(1), 1.0)
    # a type the query does not resemble stays out: balance reweights neighbours, no more
    far = np.r_[np.ones((9, 2)), [[1.0, -1.0]]]
    only_a, _, _ = transport.transfer_shifts(
        query, far, shifts, k=9, ref_weights=transport.group_balance(types)
    )
    np.testing.assert_allclose(only_a, [[0.0]])


def _manifold(n, m, d=16, seed=0):
    """Control and perturbed clouds on a curved low-dimensional manifold, a cell-level shift."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(3, d)), rng.normal(size=(3, d))
    u, v = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
    zc = np.tanh(u) @ A + 0.1 * rng.normal(size=(n, d))
    zp = np.tanh(v) @ A + np.sin(v) @ B + 0.1 * rng.normal(size=(m, d))
    return zc, zp


def test_minibatch_shifts_correlate_with_exact_emd():
    zc, zp = _manifold(900, 800)
    exact = transport.barycentric_shift(zc, zp, transport.coupling(zc, zp))
    mb = transport.minibatch_shifts(zc, zp, batch_size=150)
    r = np.corrcoef(exact.ravel(), mb.ravel())[0, 1]
    assert r > 0.8, r
    # the mean shift is the same (both plans have the same marginals up to mini-batch shares)
    np.testing.assert_allclose(mb.mean(0), exact.mean(0), atol=0.05 * np.abs(exact).max())
    # more passes average the mini-batch noise away
    mb4 = transport.minibatch_shifts(zc, zp, batch_size=150, n_repeats=4)
    assert np.corrcoef(exact.ravel(), mb4.ravel())[0, 1] > r


def test_minibatch_shifts_equal_those_of_the_sparse_plan():
    zc, zp = _manifold(300, 250)
    G = transport.coupling(zc, zp, "minibatch", batch_size=64, n_repeats=2, seed=3)
    assert sparse.issparse(G) and G.nnz <= 2 * (300 + 250) * 2
    expected = transport.barycentric_shift(zc, zp, G)
    got = transport.minibatch_shifts(zc, zp, batch_size=64, n_repeats=2, seed=3)
    np.testing.assert_allclose(got, expected, atol=1e-10)
    _, via_groups = transport.ot_shifts(
        zc, zp, np.zeros(300), np.zeros(250), method="minibatch", batch_size=64, n_repeats=2, seed=3
    )
    np.testing.assert_allclose(via_groups, expected, atol=1e-10)


def test_minibatch_never_allocates_an_n_by_m_array():
    # n * m * 8 bytes = 200 MB: a dense plan or cost matrix would dwarf the 30 MB allowed
    zc, zp = _manifold(5000, 5000, d=8, seed=1)
    tracemalloc.start()
    try:
        _, shifts = transport.ot_shifts(
            zc,
            zp,
            np.zeros(5000),
            np.zeros(5000),
            method="auto",
            max_exact=1_000_000,
            batch_size=500,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert shifts.shape == (5000, 8)
    assert peak < 30e6, peak


def test_auto_is_exact_below_the_threshold_and_logs_its_choice(caplog):
    zc, zp = _manifold(120, 100)
    g = np.array(["T"] * 120)
    with caplog.at_level(logging.INFO, logger="scotm.transport"):
        _, auto = transport.ot_shifts(zc, zp, g, g[:100], method="auto")
        _, exact = transport.ot_shifts(zc, zp, g, g[:100], method="emd")
    np.testing.assert_array_equal(auto, exact)
    assert "exact EMD" in caplog.text and "120 x 100" in caplog.text and "T" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="scotm.transport"):
        _, small = transport.ot_shifts(
            zc, zp, g, g[:100], method="auto", max_exact=100, batch_size=40
        )
    assert "mini-batch OT" in caplog.text
    assert np.abs(small - exact).max() > 1e-3  # three mini-batches, not the exact plan
    # the default threshold keeps the largest Kang pair exact
    assert transport.choose_method(2215, 2147) == "emd"
    assert transport.choose_method(100_000, 100_000) == "minibatch"


def test_cosine_topk_in_blocks_equals_one_block():
    rng = np.random.default_rng(7)
    q, ref = rng.normal(size=(503, 12)), rng.normal(size=(97, 12))
    idx1, w1 = transport.cosine_topk(q, ref, 10)
    for entries in (97, 97 * 7, 97 * 100 + 5):
        idx, w = transport.cosine_topk(q, ref, 10, block_entries=entries, backend="numpy")
        np.testing.assert_array_equal(idx, idx1)
        np.testing.assert_allclose(w, w1, rtol=0, atol=1e-12)
        # torch's top-k (auto's choice for several blocks): the same neighbours and weights,
        # by decreasing similarity
        idx_t, w_t = transport.cosine_topk(q, ref, 10, block_entries=entries)
        order = np.argsort(-w1, axis=1, kind="stable")
        np.testing.assert_array_equal(idx_t, np.take_along_axis(idx1, order, 1))
        np.testing.assert_allclose(w_t, np.take_along_axis(w1, order, 1), rtol=0, atol=1e-12)


def test_cosine_topk_single_block_is_the_plain_numpy_path():
    # the path every Kang fold takes: one float64 block, argpartition, bit for bit
    rng = np.random.default_rng(9)
    q, ref = rng.normal(size=(200, 8)), rng.normal(size=(300, 8))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    rn = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    sim = qn @ rn.T
    idx = np.argpartition(-sim, 29, axis=1)[:, :30]
    w = np.clip(np.take_along_axis(sim, idx, axis=1), 1e-6, None)
    got_idx, got_w = transport.cosine_topk(q, ref, 30)
    np.testing.assert_array_equal(got_idx, idx)
    np.testing.assert_array_equal(got_w, w / w.sum(1, keepdims=True))
    with pytest.raises(ValueError, match="unknown backend"):
        transport.cosine_topk(q, ref, 3, backend="faiss")


def test_cosine_topk_memory_is_bounded_by_the_block():
    rng = np.random.default_rng(8)
    q, ref = rng.normal(size=(4000, 4)), rng.normal(size=(3000, 4))  # dense sim: 96 MB
    tracemalloc.start()
    try:
        # numpy's allocations are traced (torch's are not, so only numpy is checked here)
        transport.cosine_topk(q, ref, 5, block_entries=3000 * 100, backend="numpy")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6, peak
