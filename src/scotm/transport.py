"""Latent optimal transport with POT, and the transfer of cell-level shifts to new cells.

A small functional layer in the style of POT's own ``ot.emd`` / ``ot.sinkhorn``:

- :func:`coupling` pairs control codes with perturbed codes (exact EMD, entropic Sinkhorn or
  mini-batch EMD for millions of cells);
- :func:`ot_shifts` turns a plan into one barycentric shift per control cell, within each
  cell type or across all;
- :func:`mean_shifts` is the scGen-style ablation: one mean shift per cell type;
- :func:`transfer_shifts` gives each new control cell the similarity-weighted average shift of
  its most similar training control cells.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import ot

OTMethod = Literal["emd", "sinkhorn", "minibatch"]


def coupling(
    z_src: np.ndarray,
    z_tgt: np.ndarray,
    method: OTMethod = "emd",
    *,
    reg: float = 0.05,
    num_iter_max: int = 1_000_000,
    batch_size: int = 2048,
    seed: int = 0,
) -> np.ndarray:
    """OT plan between two point clouds with uniform weights and squared Euclidean cost.

    Parameters
    ----------
    z_src, z_tgt
        Codes, shape ``(n, d)`` and ``(m, d)``.
    method
        ``"emd"``: exact (POT ``ot.emd``). ``"sinkhorn"``: entropic (POT ``ot.sinkhorn``, with
        ``reg`` relative to the median cost). ``"minibatch"``: exact EMD on random mini-batches
        of ``batch_size`` a side, a plan with block structure that scales linearly.
    num_iter_max
        EMD iteration cap; POT's default of 100,000 stops short of optimality at a few
        thousand cells a side.

    Returns
    -------
    The plan ``G``, shape ``(n, m)``, rows summing to ``1/n``.

    Examples
    --------
    >>> G = coupling(np.eye(3), np.eye(3)[::-1])
    >>> G.argmax(1)
    array([2, 1, 0])
    """
    z_src = np.ascontiguousarray(z_src, dtype=np.float64)
    z_tgt = np.ascontiguousarray(z_tgt, dtype=np.float64)
    n, m = len(z_src), len(z_tgt)
    if method == "minibatch" and max(n, m) > batch_size:
        return _minibatch_plan(z_src, z_tgt, batch_size, num_iter_max, seed)
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    M = ot.dist(z_src, z_tgt)
    if method in ("emd", "minibatch"):
        return ot.emd(a, b, M, numItermax=num_iter_max)
    if method == "sinkhorn":
        scale = float(np.median(M)) or 1.0
        return ot.sinkhorn(a, b, M / scale, reg, numItermax=10_000, method="sinkhorn_log")
    raise ValueError(f"unknown OT method {method!r}; use 'emd', 'sinkhorn' or 'minibatch'")


def _minibatch_plan(z_src, z_tgt, batch_size, num_iter_max, seed) -> np.ndarray:
    """Average of exact plans between random equal-share mini-batches of both sides."""
    rng = np.random.default_rng(seed)
    n, m = len(z_src), len(z_tgt)
    n_batches = int(np.ceil(max(n, m) / batch_size))
    src_parts = np.array_split(rng.permutation(n), n_batches)
    tgt_parts = np.array_split(rng.permutation(m), n_batches)
    G = np.zeros((n, m))
    for si, ti in zip(src_parts, tgt_parts, strict=True):
        a, b = np.full(len(si), 1.0 / len(si)), np.full(len(ti), 1.0 / len(ti))
        g = ot.emd(a, b, ot.dist(z_src[si], z_tgt[ti]), numItermax=num_iter_max)
        G[np.ix_(si, ti)] += g * len(si) / n
    return G


def barycentric_shift(z_src: np.ndarray, z_tgt: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Each source point's shift to the plan-weighted mean of its targets."""
    return (G @ z_tgt) / np.maximum(G.sum(1, keepdims=True), 1e-300) - z_src


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
    cells. Only groups with both conditions get shifts.

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
            G = coupling(z_ctrl[c], z_pert[p], method, **kwargs)
            shifts[c] = barycentric_shift(z_ctrl[c], z_pert[p], G)
    else:
        p = np.isin(groups_pert, groups)
        G = coupling(z_ctrl[mask], z_pert[p], method, **kwargs)
        shifts[mask] = barycentric_shift(z_ctrl[mask], z_pert[p], G)
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
    query: np.ndarray, ref: np.ndarray, k: int, eps: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of the ``k`` references most cosine-similar to each query row.

    Weights are the similarities, clipped at ``eps`` and normalised to sum to 1 per row.
    """
    qn = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
    rn = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
    sim = qn @ rn.T
    k = min(k, ref.shape[0])
    idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    w = np.clip(np.take_along_axis(sim, idx, axis=1), eps, None)
    return idx, w / w.sum(1, keepdims=True)


def transfer_shifts(
    z_query: np.ndarray,
    z_ref: np.ndarray,
    shifts_ref: np.ndarray,
    k: int = 30,
    *,
    per_cell: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give each query cell the similarity-weighted mean shift of its ``k`` nearest references.

    With ``per_cell=False`` (ablation) every query cell gets the same vector: the mean of the
    per-cell transferred shifts.

    Returns
    -------
    ``(shifts, idx, weights)``; ``idx``/``weights`` say which references each shift came from.
    """
    idx, w = cosine_topk(z_query, z_ref, k)
    shifts = np.einsum("nk,nkd->nd", w, shifts_ref[idx])
    if not per_cell:
        shifts = np.broadcast_to(shifts.mean(0), shifts.shape).copy()
    return shifts, idx, w
