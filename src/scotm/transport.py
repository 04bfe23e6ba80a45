"""Latent optimal transport with POT, and the transfer of cell-level shifts to new cells.

A small functional layer in the style of POT's own ``ot.emd`` / ``ot.sinkhorn``:

- :func:`coupling` pairs control codes with perturbed codes (exact EMD, entropic Sinkhorn or
  mini-batch EMD for millions of cells, whose plan is sparse, never ``n x m`` dense);
- :func:`minibatch_shifts` gives the mini-batch barycentric shifts without any plan: memory
  ``O((n + m) d + b^2)``;
- :func:`ot_shifts` turns a plan into one barycentric shift per control cell, within each
  cell type or across all; ``method="auto"`` takes exact EMD while ``n * m <= max_exact`` and
  mini-batch OT above (the choice is logged on the ``"scotm.transport"`` logger);
- :func:`mean_shifts` is the scGen-style ablation: one mean shift per cell type;
- :func:`transfer_shifts` gives each new control cell the similarity-weighted average shift of
  its most similar training control cells (optionally reweighted per reference, e.g. by
  :func:`group_balance` so that every cell type counts the same); the search
  (:func:`cosine_topk`) runs in blocks of queries, so its memory is bounded whatever the
  number of cells.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Literal

import numpy as np
import ot
from scipy import sparse

OTMethod = Literal["emd", "sinkhorn", "minibatch", "auto"]

logger = logging.getLogger("scotm.transport")

#: ``method="auto"`` solves exact EMD while ``n * m`` is at most this (2,500 cells a side, a
#: few seconds and 0.1 GB for the cost and the plan); every Kang cell type (the largest is
#: 2,215 x 2,147) stays exact. At 5,000 a side exact EMD took 13 s a type on the shared
#: 2-core machine (benchmarks/scale.py, 100k cells: 120 s for 9 types).
MAX_EXACT = 6_250_000
#: Float64 similarity entries :func:`cosine_topk` holds at once (256 MB).
BLOCK_ENTRIES = 2**25


def choose_method(
    n: int, m: int, method: OTMethod = "auto", *, max_exact: int = MAX_EXACT, label: str = ""
) -> str:
    """The solver ``method`` resolves to for ``n`` source and ``m`` target cells.

    ``"auto"`` becomes ``"emd"`` while ``n * m <= max_exact`` and ``"minibatch"`` above; the
    choice is logged (INFO, logger ``"scotm.transport"``). Other methods pass through.

    Examples
    --------
    >>> choose_method(2215, 2147), choose_method(100_000, 100_000)
    ('emd', 'minibatch')
    """
    if method not in ("emd", "sinkhorn", "minibatch", "auto"):
        raise ValueError(
            f"unknown OT method {method!r}; use 'emd', 'sinkhorn', 'minibatch' or 'auto'"
        )
    if method != "auto":
        return method
    chosen = "emd" if n * m <= max_exact else "minibatch"
    how = "exact EMD" if chosen == "emd" else "mini-batch OT"
    op = "<=" if chosen == "emd" else ">"
    where = f" for {label}" if label else ""
    logger.info(
        "OT auto%s: %s (%d x %d = %d %s max_exact=%d)", where, how, n, m, n * m, op, max_exact
    )
    return chosen


def coupling(
    z_src: np.ndarray,
    z_tgt: np.ndarray,
    method: OTMethod = "emd",
    *,
    reg: float = 0.05,
    num_iter_max: int = 1_000_000,
    batch_size: int = 1024,
    n_repeats: int = 1,
    max_exact: int = MAX_EXACT,
    seed: int = 0,
) -> np.ndarray | sparse.csr_array:
    """OT plan between two point clouds with uniform weights and squared Euclidean cost.

    Parameters
    ----------
    z_src, z_tgt
        Codes, shape ``(n, d)`` and ``(m, d)``.
    method
        ``"emd"``: exact (POT ``ot.emd``). ``"sinkhorn"``: entropic (POT ``ot.sinkhorn``, with
        ``reg`` relative to the median cost). ``"minibatch"``: exact EMD between random
        mini-batches of about ``batch_size`` a side (see :func:`minibatch_shifts`); the plan
        is a sparse array with ``O(n + m)`` entries. ``"auto"``: ``"emd"`` while
        ``n * m <= max_exact``, else ``"minibatch"`` (see :func:`choose_method`).
    num_iter_max
        EMD iteration cap; POT's default of 100,000 stops short of optimality at a few
        thousand cells a side.
    batch_size
        Mini-batch only. 1,024 keeps 100k x 100k cells (9 types) under a minute on 2 cores;
        larger batches are closer to exact EMD and slower (BENCHMARKS.md, "Scale").
    n_repeats
        Mini-batch only: passes over fresh random partitions, averaged.

    Returns
    -------
    The plan ``G``, shape ``(n, m)``, rows summing to ``1/n``: dense for exact and entropic
    OT, a ``scipy.sparse.csr_array`` for mini-batch OT.

    Examples
    --------
    >>> G = coupling(np.eye(3), np.eye(3)[::-1])
    >>> G.argmax(1)
    array([2, 1, 0])
    """
    z_src = np.ascontiguousarray(z_src, dtype=np.float64)
    z_tgt = np.ascontiguousarray(z_tgt, dtype=np.float64)
    n, m = len(z_src), len(z_tgt)
    method = choose_method(n, m, method, max_exact=max_exact)
    if method == "minibatch" and max(n, m) > batch_size:
        rows, cols, vals = [], [], []
        for si, ti, g in _minibatch_plans(z_src, z_tgt, batch_size, n_repeats, num_iter_max, seed):
            r, c = np.nonzero(g)
            rows.append(si[r])
            cols.append(ti[c])
            vals.append(g[r, c] * len(si) / (n * n_repeats))
        coo = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
        return sparse.csr_array(coo, shape=(n, m))
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    M = ot.dist(z_src, z_tgt)
    if method in ("emd", "minibatch"):
        return ot.emd(a, b, M, numItermax=num_iter_max)
    scale = float(np.median(M)) or 1.0
    return ot.sinkhorn(a, b, M / scale, reg, numItermax=10_000, method="sinkhorn_log")


def _minibatch_plans(
    z_src: np.ndarray,
    z_tgt: np.ndarray,
    batch_size: int,
    n_repeats: int,
    num_iter_max: int,
    seed: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(source rows, target rows, exact plan)`` of each pair of random mini-batches.

    Each pass splits both sides into the same number of random, near-equal parts (every cell
    in exactly one part) and solves exact EMD, uniform weights, between part ``i`` and part
    ``i`` of the other side: ``b x b`` memory at a time.
    """
    if batch_size < 1 or n_repeats < 1:
        raise ValueError(f"batch_size ({batch_size}) and n_repeats ({n_repeats}) must be >= 1")
    rng = np.random.default_rng(seed)
    n, m = len(z_src), len(z_tgt)
    n_batches = int(np.ceil(max(n, m) / batch_size))
    for _ in range(n_repeats):
        src_parts = np.array_split(rng.permutation(n), n_batches)
        tgt_parts = np.array_split(rng.permutation(m), n_batches)
        for si, ti in zip(src_parts, tgt_parts, strict=True):
            if len(si) == 0 or len(ti) == 0:
                continue  # more batches than cells on the smaller side
            a, b = np.full(len(si), 1.0 / len(si)), np.full(len(ti), 1.0 / len(ti))
            g = ot.emd(a, b, ot.dist(z_src[si], z_tgt[ti]), numItermax=num_iter_max)
            yield si, ti, g


def minibatch_shifts(
    z_src: np.ndarray,
    z_tgt: np.ndarray,
    *,
    batch_size: int = 1024,
    n_repeats: int = 1,
    num_iter_max: int = 1_000_000,
    seed: int = 0,
) -> np.ndarray:
    """Barycentric shifts from mini-batch OT, accumulated without ever forming a plan.

    For each pair of random mini-batches (see :func:`coupling`) the exact ``b x b`` plan
    ``g`` adds ``g @ z_tgt[batch]`` to its source cells' numerators and ``g.sum(1)`` to their
    masses; the shift is numerator / mass - ``z_src``. Memory ``O((n + m) d + b^2)``, time
    linear in ``n + m`` for a fixed ``batch_size``. Equal to
    ``barycentric_shift(z_src, z_tgt, coupling(z_src, z_tgt, "minibatch", ...))``.

    Examples
    --------
    >>> z = np.random.default_rng(0).normal(size=(500, 2))
    >>> s = minibatch_shifts(z, z + [3.0, 0.0], batch_size=100)
    >>> bool(np.allclose(s.mean(0), [3.0, 0.0]))
    True
    """
    z_src = np.ascontiguousarray(z_src, dtype=np.float64)
    z_tgt = np.ascontiguousarray(z_tgt, dtype=np.float64)
    num = np.zeros_like(z_src)
    mass = np.zeros(len(z_src))
    for si, ti, g in _minibatch_plans(z_src, z_tgt, batch_size, n_repeats, num_iter_max, seed):
        num[si] += g @ z_tgt[ti]
        mass[si] += g.sum(1)
    return num / np.maximum(mass, 1e-300)[:, None] - z_src


def barycentric_shift(
    z_src: np.ndarray, z_tgt: np.ndarray, G: np.ndarray | sparse.sparray
) -> np.ndarray:
    """Each source point's shift to the plan-weighted mean of its targets (dense or sparse G)."""
    mass = np.asarray(G.sum(axis=1)).reshape(-1, 1)
    return np.asarray(G @ z_tgt) / np.maximum(mass, 1e-300) - z_src


def _group_shifts(
    z_src: np.ndarray, z_tgt: np.ndarray, method: OTMethod, label: str, **kwargs
) -> np.ndarray:
    """Shifts of one pair of clouds: mini-batch OT without a plan, else from the plan."""
    method = choose_method(
        len(z_src), len(z_tgt), method, max_exact=kwargs.pop("max_exact", MAX_EXACT), label=label
    )
    if method == "minibatch":
        kwargs.pop("reg", None)
        return minibatch_shifts(z_src, z_tgt, **kwargs)
    return barycentric_shift(z_src, z_tgt, coupling(z_src, z_tgt, method, **kwargs))


def _paired_groups(groups_ctrl: np.ndarray, groups_pert: np.ndarray) -> list:
    return [g for g in np.unique(groups_ctrl) if (groups_pert == g).any()]


def ot_shifts(
    z_ctrl: np.ndarray,
    z_pert: np.ndarray,
    groups_ctrl: np.ndarray,
    groups_pert: np.ndarray,
    *,
    within_groups: bool = True,
    method: OTMethod = "emd",
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Cell-level shifts of training control cells from an OT plan to the perturbed cells.

    With ``within_groups`` each cell type is coupled with itself (a T cell is never paired
    with a perturbed monocyte); otherwise all control cells are coupled with all perturbed
    cells. Only groups with both conditions get shifts. ``method="minibatch"`` never forms a
    plan (:func:`minibatch_shifts`); ``"auto"`` picks exact or mini-batch OT per group from
    ``max_exact``. Other keywords go to :func:`coupling`.

    Returns
    -------
    ``(mask, shifts)``: a boolean mask over ``z_ctrl`` of the cells that got a shift, and
    their shifts in the same order.
    """
    groups = _paired_groups(groups_ctrl, groups_pert)
    mask = np.isin(groups_ctrl, groups)
    shifts = np.zeros_like(z_ctrl, dtype=np.float64)
    if within_groups:
        for g in groups:
            c, p = groups_ctrl == g, groups_pert == g
            shifts[c] = _group_shifts(z_ctrl[c], z_pert[p], method, str(g), **kwargs)
    else:
        p = np.isin(groups_pert, groups)
        shifts[mask] = _group_shifts(z_ctrl[mask], z_pert[p], method, "all cells", **kwargs)
    return mask, shifts[mask]


def mean_shifts(
    z_ctrl: np.ndarray, z_pert: np.ndarray, groups_ctrl: np.ndarray, groups_pert: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ablation without OT: every control cell of a type gets that type's mean latent shift."""
    groups = _paired_groups(groups_ctrl, groups_pert)
    mask = np.isin(groups_ctrl, groups)
    shifts = np.zeros_like(z_ctrl, dtype=np.float64)
    for g in groups:
        c, p = groups_ctrl == g, groups_pert == g
        shifts[c] = z_pert[p].mean(0) - z_ctrl[c].mean(0)
    return mask, shifts[mask]


def cosine_topk(
    query: np.ndarray,
    ref: np.ndarray,
    k: int,
    eps: float = 1e-6,
    *,
    block_entries: int = BLOCK_ENTRIES,
    backend: Literal["auto", "numpy", "torch"] = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of the ``k`` references most cosine-similar to each query row.

    Weights are the similarities, clipped at ``eps`` and normalised to sum to 1 per row. The
    float64 similarities are computed for blocks of queries of at most ``block_entries``
    entries (``max(1, block_entries // len(ref))`` rows; 256 MB by default), so memory stays
    bounded. ``backend="numpy"`` selects with ``np.argpartition`` (the ``k`` indices in no
    particular order); ``"torch"`` with ``torch.topk``, faster (the same neighbours, by
    decreasing similarity); ``"auto"`` takes numpy while the whole query
    set is one block (every Kang fold), torch above.

    Examples
    --------
    >>> idx, w = cosine_topk(np.array([[1.0, 0.1]]), np.array([[0.0, 1.0], [1.0, 0.0]]), 1)
    >>> idx.tolist(), w.tolist()
    ([[1]], [[1.0]])
    """
    qn = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
    rn = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
    k = min(k, ref.shape[0])
    rows = max(1, block_entries // max(ref.shape[0], 1))
    if backend == "auto":
        backend = "numpy" if len(qn) <= rows else "torch"
    if backend not in ("numpy", "torch"):
        raise ValueError(f"unknown backend {backend!r}; use 'auto', 'numpy' or 'torch'")
    idx = np.empty((len(qn), k), dtype=np.intp)
    w = np.empty((len(qn), k), dtype=np.result_type(qn, rn))
    if backend == "torch":
        import torch

        qt, rt = torch.from_numpy(np.ascontiguousarray(qn)), torch.from_numpy(rn)
    for start in range(0, len(qn), rows):
        block = slice(start, start + rows)
        if backend == "torch":
            sim_t = qt[block] @ rt.T.to(qt.dtype)
            vals, i = torch.topk(sim_t, k, dim=1)
            idx[block], w[block] = i.numpy(), np.clip(vals.numpy(), eps, None)
            continue
        sim = qn[block] @ rn.T
        i = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        idx[block] = i
        w[block] = np.clip(np.take_along_axis(sim, i, axis=1), eps, None)
    return idx, w / w.sum(1, keepdims=True)


def group_balance(groups: np.ndarray) -> np.ndarray:
    """Each reference's weight ``1 / (references in its group)``: every group counts the same.

    Passed as ``ref_weights`` to :func:`transfer_shifts`, it divides each neighbour's weight
    by the size of its cell type, so a shift is borrowed from the types a cell resembles,
    not from the types the experiment happened to sample most.

    Examples
    --------
    >>> group_balance(np.array(["a", "a", "a", "b"])).tolist()
    [0.3333333333333333, 0.3333333333333333, 0.3333333333333333, 1.0]
    """
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def transfer_shifts(
    z_query: np.ndarray,
    z_ref: np.ndarray,
    shifts_ref: np.ndarray,
    k: int = 30,
    *,
    per_cell: bool = True,
    ref_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give each query cell the similarity-weighted mean shift of its ``k`` nearest references.

    ``ref_weights`` (one per reference, e.g. :func:`group_balance`) multiply each neighbour's
    similarity weight before the weights are normalised. With ``per_cell=False`` (ablation)
    every query cell gets the same vector: the mean of the per-cell transferred shifts.

    Returns
    -------
    ``(shifts, idx, weights)``; ``idx``/``weights`` say which references each shift came from.

    Examples
    --------
    >>> z_ref = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    >>> shifts = np.array([[1.0], [1.0], [4.0]])
    >>> transfer_shifts(np.array([[1.0, 1.0]]), z_ref, shifts, 3)[0].round(2).tolist()
    [[1.97]]
    >>> w = group_balance(np.array(["a", "a", "b"]))
    >>> transfer_shifts(np.array([[1.0, 1.0]]), z_ref, shifts, 3, ref_weights=w)[0].round(2).tolist()
    [[2.47]]
    """
    idx, w = cosine_topk(z_query, z_ref, k)
    if ref_weights is not None:
        w = w * np.asarray(ref_weights, dtype=w.dtype)[idx]
        w /= w.sum(1, keepdims=True)
    shifts = np.einsum("nk,nkd->nd", w, shifts_ref[idx])
    if not per_cell:
        shifts = np.broadcast_to(shifts.mean(0), shifts.shape).copy()
    return shifts, idx, w
