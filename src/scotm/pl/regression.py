"""Predicted against real mean expression per gene, DEGs labelled: :func:`mean_regression`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..metrics import dense, pearson
from ._style import GROUP_COLORS, check_same_genes, figure_axes, fmt, resolve_degs, styled

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad


def _label_points(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    avoid_x: np.ndarray,
    avoid_y: np.ndarray,
    fontsize: float = 7,
) -> None:
    """Label points, each at the first of a few offsets where it overlaps no earlier label and
    no point of ``avoid``: a small greedy repel, with no dependency (adjustText) needed."""
    if not len(names):
        return
    scale = ax.figure.dpi / 72  # points to pixels
    char_w, line_h = 0.55 * fontsize * scale, 1.15 * fontsize * scale
    to_px = ax.transData.transform
    dots = to_px(np.column_stack([avoid_x, avoid_y]))
    r = 3 * scale
    placed: list[tuple[float, float, float, float]] = []
    # (dx, dy) in points and the text's alignment there
    candidates = [
        (d * sx, d * sy, "left" if sx > 0 else "right" if sx < 0 else "center", va)
        for d in (5, 12, 20)
        for sx, sy, va in ((1, 1, "bottom"), (-1, 1, "bottom"), (1, -1, "top"), (-1, -1, "top"))
    ]

    def box(px: np.ndarray, dx: float, dy: float, ha: str, va: str, width: float):
        x0 = px[0] + dx * scale - {"left": 0, "right": width, "center": width / 2}[ha]
        y0 = px[1] + dy * scale - (line_h if va == "top" else 0)
        return x0, y0, x0 + width, y0 + line_h

    def hits(b: tuple[float, float, float, float]) -> int:
        n = sum(not (b[2] < o[0] or o[2] < b[0] or b[3] < o[1] or o[3] < b[1]) for o in placed)
        inside = (
            (dots[:, 0] > b[0] - r)
            & (dots[:, 0] < b[2] + r)
            & (dots[:, 1] > b[1] - r)
            & (dots[:, 1] < b[3] + r)
        )
        return 10 * n + int(inside.sum())

    xy = np.column_stack([x, y])
    for name, px, anchor in zip(names, to_px(xy), xy, strict=True):
        width = char_w * len(name)
        scored = [(hits(box(px, *c, width)), k) for k, c in enumerate(candidates)]
        best = candidates[min(scored)[1]]
        placed.append(box(px, *best, width))
        dx, dy, ha, va = best
        ax.annotate(
            name,
            (float(anchor[0]), float(anchor[1])),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=fontsize,
            arrowprops={
                "arrowstyle": "-",
                "lw": 0.4,
                "color": "0.4",
                "shrinkA": 0,
                "shrinkB": 0,
                "patchA": None,
            },
        )


@styled
def mean_regression(
    ctrl: ad.AnnData,
    real: ad.AnnData,
    pred: ad.AnnData,
    degs: Sequence[str] | None = None,
    n_label: int = 10,
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Predicted against real mean expression per gene, DEGs highlighted and labelled.

    The R² values are :func:`scotm.metrics.evaluate`'s ``r2_mean_all`` and ``r2_mean_deg``:
    the squared Pearson correlation of per-gene means, over all genes and over the DEGs.

    Parameters
    ----------
    ctrl, real, pred
        Log-normalised control, real perturbed and predicted cells of one cell type, over the
        same genes in the same order.
    degs
        The DEGs to highlight, most significant first; the protocol's top-100 DEGs
        (:func:`scotm.metrics.top_degs`, from the real cells only) if omitted.
    n_label
        Label this many of the first ``degs`` with their gene names.
    ax
        Draw into this Axes; a new figure if omitted.
    title
        Title above the plot (default: none; the R² values are in the legend).

    Returns
    -------
    The figure holding the plot.

    Examples
    --------
    >>> fig = scotm.pl.mean_regression(fold.ctrl, fold.real, pred)  # doctest: +SKIP
    >>> scotm.pl.save(fig, "mean_regression.png")  # doctest: +SKIP
    """
    check_same_genes(ctrl, real, pred)
    degs = resolve_degs(ctrl, real, degs)
    idx = ctrl.var_names.get_indexer(degs)
    mr = dense(real.X).mean(0)
    mp = dense(pred.X).mean(0)
    r2_all = pearson(mp, mr) ** 2
    r2_deg = pearson(mp[idx], mr[idx]) ** 2 if len(idx) else float("nan")
    fig, ax = figure_axes(ax, (4.2, 4.0))
    is_deg = np.zeros(len(mr), dtype=bool)
    is_deg[idx] = True
    ax.scatter(
        mr[~is_deg],
        mp[~is_deg],
        s=6,
        c=GROUP_COLORS["control"],
        alpha=0.5,
        linewidths=0,
        rasterized=True,
        label=f"all genes (R² = {fmt(r2_all)})",
    )
    ax.scatter(
        mr[idx],
        mp[idx],
        s=14,
        c=GROUP_COLORS["predicted"],
        alpha=0.85,
        linewidths=0,
        label=f"top-{len(idx)} DEGs (R² = {fmt(r2_deg)})",
    )
    lo = float(min(mr.min(), mp.min(), 0.0))
    hi = float(max(mr.max(), mp.max()))
    pad = 0.04 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", c="0.3", lw=0.8, zorder=0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    top = idx[: max(0, n_label)]
    ax.scatter(mr[top], mp[top], s=14, facecolors="none", edgecolors="black", linewidths=0.6)
    _label_points(ax, mr[top], mp[top], [str(g) for g in ctrl.var_names[top]], mr[idx], mp[idx])
    ax.set_xlabel("real mean expression (log-normalised)")
    ax.set_ylabel("predicted mean expression")
    ax.legend(loc="upper left", handletextpad=0.2, borderaxespad=0.2)
    if title:
        ax.set_title(title)
    return fig
