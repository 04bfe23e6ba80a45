"""Plots: predictions, benchmarks and the model's optimal transport, as matplotlib figures.

Every function returns a :class:`matplotlib.figure.Figure` and takes ``ax=``: given an Axes it
draws there (and returns that Axes' figure), otherwise it makes a figure of its own. Figures
made here are plain :class:`~matplotlib.figure.Figure` objects, not pyplot-managed ones: they
need no backend, leak nothing in long runs and display in Jupyter when returned. To use pyplot
(``plt.show()``), pass an Axes from ``plt.subplots()``. :func:`save` writes PNG, PDF or SVG.

>>> import scotm
>>> fig = scotm.pl.mean_regression(fold.ctrl, fold.real, pred)  # doctest: +SKIP
>>> scotm.pl.save(fig, "mean_regression.pdf")  # doctest: +SKIP

Accuracy numbers shown on plots come from :mod:`scotm.metrics` (the pinned protocol), so a
figure's R² is the one in ``metrics.csv``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from . import metrics as _metrics
from ._errors import ScotmInputError
from ._io import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad
    import pandas as pd

    from .model import SCOTM

__all__ = [
    "deg_violins",
    "embedding",
    "fold_bars",
    "mean_regression",
    "ot_pairing",
    "save",
    "shift_sources",
    "training_curves",
]

#: Okabe-Ito colours (colour-blind safe) for control / real perturbed / predicted cells.
GROUP_COLORS = {"control": "#8C8C8C", "real": "#0072B2", "predicted": "#D55E00"}
#: Colours for methods and cell types, in order (Okabe-Ito, then tab10's extras).
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#8C564B",
    "#7F7F7F",
)

#: Readable sizes at a single-column width; applied while a figure is drawn, never globally.
STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.2,
    "pdf.fonttype": 42,  # editable text in PDF and SVG
    "svg.fonttype": "none",
}

METRIC_LABELS = {
    "r2_mean_all": "R² of mean expression, all genes",
    "r2_mean_deg": "R² of mean expression, top-100 DEGs",
    "r2_var_deg": "R² of variance, top-100 DEGs",
    "delta_r_all": "response correlation, all genes",
    "delta_r_deg": "response correlation, top-100 DEGs",
    "deg_overlap": "DEG overlap",
    "edist": "energy distance (lower is better)",
    "fit_s": "fit time (s)",
    "predict_s": "predict time (s)",
}

F = TypeVar("F", bound=Callable[..., Figure])


def _styled(func: F) -> F:
    """Draw ``func``'s artists under :data:`STYLE` without touching the global rcParams."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The given Axes and its (root) figure, or a new constrained-layout figure with one Axes."""
    if ax is not None:
        fig = ax.figure
        while not isinstance(fig, Figure):  # an Axes of a SubFigure: its root figure
            fig = fig.figure
        return fig, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _check_same_genes(ctrl: ad.AnnData, real: ad.AnnData, pred: ad.AnnData) -> None:
    _metrics._check_genes(ctrl, real, "real")
    _metrics._check_genes(ctrl, pred, "pred")


def _degs(ctrl: ad.AnnData, real: ad.AnnData, degs: Sequence[str] | None) -> list[str]:
    """The given DEGs, or the pinned protocol's top DEGs (real cells only)."""
    degs = list(_metrics.top_degs(ctrl, real) if degs is None else degs)
    genes = set(ctrl.var_names)
    missing = [g for g in degs if g not in genes]
    if missing:
        raise ScotmInputError(
            f"{len(missing)} DEG(s) are not among the genes (e.g. {', '.join(missing[:3])}); "
            "pass genes of ctrl.var_names"
        )
    return degs


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


# --------------------------------------------------------------------------- predictions


@_styled
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
    _check_same_genes(ctrl, real, pred)
    degs = _degs(ctrl, real, degs)
    idx = ctrl.var_names.get_indexer(degs)
    mr = _metrics._dense(real.X).mean(0)
    mp = _metrics._dense(pred.X).mean(0)
    r2_all = _metrics._pearson(mp, mr) ** 2
    r2_deg = _metrics._pearson(mp[idx], mr[idx]) ** 2 if len(idx) else float("nan")
    fig, ax = _axes(ax, (4.2, 4.0))
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
        label=f"all genes (R² = {_fmt(r2_all)})",
    )
    ax.scatter(
        mr[idx],
        mp[idx],
        s=14,
        c=GROUP_COLORS["predicted"],
        alpha=0.85,
        linewidths=0,
        label=f"top-{len(idx)} DEGs (R² = {_fmt(r2_deg)})",
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


@_styled
def embedding(
    ctrl: ad.AnnData,
    real: ad.AnnData,
    pred: ad.AnnData,
    basis: Literal["pca", "umap"] = "pca",
    ax: Axes | None = None,
    *,
    title: str | None = None,
    seed: int = 0,
) -> Figure:
    """Control, real perturbed and predicted cells in one 2-D embedding, coloured by group.

    The embedding is fit on the real cells only (control + real perturbed), as
    :func:`scotm.metrics.edist`'s PCA is; predicted cells are projected into it.

    Parameters
    ----------
    ctrl, real, pred
        Log-normalised cells of one cell type, over the same genes in the same order.
    basis
        ``"pca"`` (default, scikit-learn) or ``"umap"`` (needs ``umap-learn``).
    ax
        Draw into this Axes; a new figure if omitted.
    title
        Title above the plot.
    seed
        Random state of the embedding.

    Returns
    -------
    The figure holding the plot.

    Examples
    --------
    >>> fig = scotm.pl.embedding(fold.ctrl, fold.real, pred)  # doctest: +SKIP
    """
    _check_same_genes(ctrl, real, pred)
    c, r, p = (_metrics._dense(a.X) for a in (ctrl, real, pred))
    fit = np.vstack([c, r])
    if basis == "pca":
        from sklearn.decomposition import PCA

        n_comp = min(2, fit.shape[0], fit.shape[1])
        model = PCA(n_components=n_comp, random_state=seed).fit(fit)
        var = model.explained_variance_ratio_
        labels = [f"PC{i + 1} ({100 * v:.0f}% variance)" for i, v in enumerate(var)]
    elif basis == "umap":
        try:
            import umap
        except ImportError as exc:
            raise ScotmInputError(
                "basis='umap' needs umap-learn (pip install umap-learn); or use basis='pca'"
            ) from exc
        from sklearn.decomposition import PCA

        n_pcs = min(30, fit.shape[0] - 1, fit.shape[1])
        pca = PCA(n_components=n_pcs, random_state=seed).fit(fit)
        reducer = umap.UMAP(n_components=2, random_state=seed).fit(pca.transform(fit))

        class _Chain:
            def transform(self, x: np.ndarray) -> np.ndarray:
                return reducer.transform(pca.transform(x))

        model = _Chain()
        labels = ["UMAP 1", "UMAP 2"]
    else:
        raise ScotmInputError(f"unknown basis {basis!r}; use 'pca' or 'umap'")
    fig, ax = _axes(ax, (4.2, 3.8))
    for name, x in (("control", c), ("real", r), ("predicted", p)):
        xy = model.transform(x)
        if xy.shape[1] == 1:
            xy = np.column_stack([xy[:, 0], np.zeros(len(xy))])
        label = {"real": "real perturbed"}.get(name, name)
        ax.scatter(
            xy[:, 0],
            xy[:, 1],
            s=5,
            c=GROUP_COLORS[name],
            alpha=0.45,
            linewidths=0,
            rasterized=True,
            label=f"{label} (n = {len(xy)})",
        )
        centre = xy.mean(0)
        ax.scatter(*centre, s=70, marker="X", c=GROUP_COLORS[name], edgecolors="white", lw=0.8)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1] if len(labels) > 1 else "")
    ax.set_xticks([])
    ax.set_yticks([])
    legend = ax.legend(loc="best", markerscale=2.5, handletextpad=0.1)
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    if title:
        ax.set_title(title)
    return fig


@_styled
def deg_violins(
    ctrl: ad.AnnData,
    real: ad.AnnData,
    pred: ad.AnnData,
    genes: Sequence[str] | None = None,
    n: int = 8,
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Expression of the top DEGs in control, real perturbed and predicted cells.

    Parameters
    ----------
    ctrl, real, pred
        Log-normalised cells of one cell type, over the same genes in the same order.
    genes
        Genes to show; the first ``n`` of the protocol's top DEGs if omitted.
    n
        How many top DEGs to show when ``genes`` is omitted.
    ax
        Draw into this Axes; a new figure if omitted.
    title
        Title above the plot.

    Returns
    -------
    The figure holding the plot: per gene, three violins (medians marked).

    Examples
    --------
    >>> fig = scotm.pl.deg_violins(fold.ctrl, fold.real, pred, n=6)  # doctest: +SKIP
    """
    _check_same_genes(ctrl, real, pred)
    genes = _degs(ctrl, real, None)[:n] if genes is None else _degs(ctrl, real, genes)
    if not genes:
        raise ScotmInputError("no genes to show; pass genes= or n >= 1")
    idx = ctrl.var_names.get_indexer(genes)
    fig, ax = _axes(ax, (max(4.0, 0.75 * len(genes) + 1.2), 3.2))
    width, offsets = 0.26, (-0.28, 0.0, 0.28)
    groups = (("control", ctrl), ("real", real), ("predicted", pred))
    for (name, a), off in zip(groups, offsets, strict=True):
        X = _metrics._dense(a.X[:, idx])
        color = GROUP_COLORS[name]
        for j in range(len(genes)):
            x, pos = X[:, j], j + off
            if np.ptp(x) == 0:  # a constant gene has no density: draw its value as a bar
                ax.hlines(x[0], pos - width / 2, pos + width / 2, colors=color, lw=1.5)
                continue
            parts = ax.violinplot(
                [x], positions=[pos], widths=width, showmedians=True, showextrema=False
            )
            for body in parts["bodies"]:
                body.set_facecolor(color)
                body.set_edgecolor(color)
                body.set_alpha(0.6)
            parts["cmedians"].set_color("black")
            parts["cmedians"].set_linewidth(0.8)
    ax.set_xticks(np.arange(len(genes)))
    long = max(len(str(g)) for g in genes) > 6 or len(genes) > 10
    ax.set_xticklabels(
        [str(g) for g in genes], rotation=45 if long else 0, ha="right" if long else "center"
    )
    ax.set_xlim(-0.6, len(genes) - 0.4)
    ax.set_ylabel("expression (log-normalised)")
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=GROUP_COLORS[k], alpha=0.6, label=label)
        for k, label in (("control", "control"), ("real", "real"), ("predicted", "predicted"))
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- benchmark


@_styled
def fold_bars(
    table: pd.DataFrame,
    metric: str = "r2_mean_deg",
    ax: Axes | None = None,
    *,
    show_mean: bool = True,
    title: str | None = None,
) -> Figure:
    """One group of bars per held-out fold, one bar per method, for one metric.

    Parameters
    ----------
    table
        The benchmark table (:func:`scotm.benchmark.run_benchmark`, or ``metrics.csv``):
        columns ``holdout``, ``method`` and the metrics.
    metric
        The column to plot (any of :data:`scotm.metrics.METRICS`, ``fit_s``, ``predict_s``).
    ax
        Draw into this Axes; a new figure if omitted.
    show_mean
        Add a last group with the mean over folds (when there is more than one fold).
    title
        Title above the plot.

    Returns
    -------
    The figure holding the plot.

    Examples
    --------
    >>> table = scotm.benchmark.run_benchmark(adata, methods=["identity", "pca_ot"])  # doctest: +SKIP
    >>> fig = scotm.pl.fold_bars(table, "delta_r_deg")  # doctest: +SKIP
    """
    for col in ("holdout", "method", metric):
        if col not in table:
            have = [c for c in table.columns if c not in ("holdout", "method")]
            raise ScotmInputError(
                f"the table has no column '{col}'; metrics present: {', '.join(map(str, have))}"
            )
    folds = list(dict.fromkeys(table["holdout"].astype(str)))
    methods = list(dict.fromkeys(table["method"].astype(str)))
    values = table.assign(holdout=table["holdout"].astype(str), method=table["method"].astype(str))
    grid = values.pivot_table(index="holdout", columns="method", values=metric, aggfunc="mean")
    grid = grid.reindex(index=folds, columns=methods)
    if show_mean and len(folds) > 1:
        grid.loc["mean"] = grid.mean(0)
    n_groups, n_methods = grid.shape
    fig, ax = _axes(ax, (max(4.0, 0.35 * n_groups * n_methods + 1.8), 3.2))
    width = 0.8 / n_methods
    x = np.arange(n_groups, dtype=float)
    for k, method in enumerate(methods):
        ax.bar(
            x + (k - (n_methods - 1) / 2) * width,
            grid[method].to_numpy(dtype=float),
            width=width * 0.95,
            color=PALETTE[k % len(PALETTE)],
            label=method,
        )
    if show_mean and len(folds) > 1:
        ax.axvline(n_groups - 1.5, color="0.6", lw=0.6, ls=":")
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xticks(x)
    long = n_groups > 4 or max(len(f) for f in grid.index) > 12
    ax.set_xticklabels(grid.index, rotation=30 if long else 0, ha="right" if long else "center")
    ax.set_xlabel("held-out cell type")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="method")
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- the model


@_styled
def shift_sources(
    pred: ad.AnnData | Mapping[str, float],
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Share of the predicted shift drawn from each training cell type (OT interpretability).

    Parameters
    ----------
    pred
        A prediction of :meth:`scotm.SCOTM.predict` (it reads
        ``pred.uns['scotm']['shift_sources']``), or that mapping itself.
    ax
        Draw into this Axes; a new figure if omitted.
    title
        Title above the plot.

    Returns
    -------
    The figure holding the plot: horizontal bars, largest share on top.

    Examples
    --------
    >>> pred = model.predict(fold.ctrl)  # doctest: +SKIP
    >>> fig = scotm.pl.shift_sources(pred)  # doctest: +SKIP
    """
    if isinstance(pred, Mapping):
        sources = dict(pred)
    else:
        sources = (getattr(pred, "uns", {}) or {}).get("scotm", {}).get("shift_sources")
        if sources is None:
            raise ScotmInputError(
                "pred has no uns['scotm']['shift_sources']; only SCOTM.predict records where "
                "its shift came from"
            )
    if not sources:
        raise ScotmInputError("shift_sources is empty")
    items = sorted(((str(k), float(v)) for k, v in sources.items()), key=lambda kv: kv[1])
    names, shares = zip(*items, strict=True)
    shares_pct = 100 * np.asarray(shares) / (sum(shares) or 1.0)
    fig, ax = _axes(ax, (4.2, max(2.4, 0.32 * len(names) + 1.0)))
    bars = ax.barh(np.arange(len(names)), shares_pct, color=PALETTE[0], height=0.7)
    ax.bar_label(bars, labels=[f"{v:.1f}%" for v in shares_pct], padding=2, fontsize=7)
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names)
    ax.set_xlim(0, max(shares_pct) * 1.18 or 1)
    ax.set_xlabel("share of the predicted shift (%)")
    ax.set_ylabel("training cell type")
    ax.set_title(title or "where the predicted shift comes from")
    return fig


@_styled
def ot_pairing(
    model: SCOTM,
    n_pairs: int = 200,
    cell_type: str | None = None,
    ax: Axes | None = None,
    *,
    seed: int = 0,
    title: str | None = None,
) -> Figure:
    """The model's OT pairing: training control codes and their matched perturbed barycentres.

    A 2-D PCA of the reference's control codes ``z`` and of ``z + shift`` (each control cell's
    OT-matched perturbed barycentre), with a segment from each code to its barycentre for a
    random subset of pairs, coloured by cell type.

    Parameters
    ----------
    model
        A trained :class:`scotm.SCOTM` (or a loaded one).
    n_pairs
        How many pairs to draw segments for (a random subset).
    cell_type
        Show only this training cell type's pairs.
    ax
        Draw into this Axes; a new figure if omitted.
    seed
        Random state of the subset.
    title
        Title above the plot.

    Returns
    -------
    The figure holding the plot.

    Examples
    --------
    >>> model = scotm.SCOTM(fold.train).train()  # doctest: +SKIP
    >>> fig = scotm.pl.ot_pairing(model, n_pairs=300)  # doctest: +SKIP
    """
    ref = getattr(model, "reference", None)
    if ref is None:
        raise ScotmInputError("the model has no OT reference; train it first (model.train())")
    codes = np.asarray(ref.codes, dtype=np.float64)
    target = codes + np.asarray(ref.shifts, dtype=np.float64)
    types = np.asarray(ref.cell_types).astype(str)
    if cell_type is not None:
        keep = types == str(cell_type)
        if not keep.any():
            raise ScotmInputError(
                f"cell type '{cell_type}' is not in the model's reference; it has: "
                f"{', '.join(sorted(set(types)))}"
            )
        codes, target, types = codes[keep], target[keep], types[keep]
    from sklearn.decomposition import PCA

    both = np.vstack([codes, target])
    n_comp = min(2, both.shape[0], both.shape[1])
    pca = PCA(n_components=n_comp, random_state=seed).fit(both)
    zc, zt = pca.transform(codes), pca.transform(target)
    if n_comp == 1:
        zc = np.column_stack([zc[:, 0], np.zeros(len(zc))])
        zt = np.column_stack([zt[:, 0], np.zeros(len(zt))])
    rng = np.random.default_rng(seed)
    subset = rng.choice(len(zc), size=min(max(0, n_pairs), len(zc)), replace=False)
    fig, ax = _axes(ax, (4.8, 4.0))
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    handles = []
    for k, ct in enumerate(sorted(set(types))):
        color = PALETTE[k % len(PALETTE)]
        m = types == ct
        ax.scatter(*zc[m].T, s=5, c=color, alpha=0.25, linewidths=0, rasterized=True)
        ax.scatter(*zt[m].T, s=9, c=color, alpha=0.25, marker="^", linewidths=0, rasterized=True)
        sel = subset[m[subset]]
        if len(sel):
            segments = np.stack([zc[sel], zt[sel]], axis=1)
            ax.add_collection(LineCollection(segments, colors=color, linewidths=0.6, alpha=0.8))
            ax.scatter(*zc[sel].T, s=8, c=color, linewidths=0)
            ax.scatter(*zt[sel].T, s=14, c=color, marker="^", linewidths=0)
        handles.append(Line2D([], [], color=color, marker="s", ls="", label=ct))
    handles += [
        Line2D([], [], color="0.3", marker="o", ls="", markersize=4, label="control code z"),
        Line2D([], [], color="0.3", marker="^", ls="", markersize=5, label="z + OT shift"),
    ]
    var = pca.explained_variance_ratio_
    ax.set_xlabel(f"latent PC1 ({100 * var[0]:.0f}%)")
    ax.set_ylabel(f"latent PC2 ({100 * var[1]:.0f}%)" if len(var) > 1 else "")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or f"OT pairs in the latent space ({len(subset)} of {len(zc)} shown)")
    return fig


@_styled
def training_curves(
    model_or_history: SCOTM | Sequence[Mapping[str, float]],
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Training and validation loss per epoch, the best validation epoch marked.

    Parameters
    ----------
    model_or_history
        A trained :class:`scotm.SCOTM` (its ``history``) or the history itself: a list of
        dicts with ``epoch``, ``train_loss`` and ``val_loss``.
    ax
        Draw into this Axes; a new figure if omitted.
    title
        Title above the plot.

    Returns
    -------
    The figure holding the plot.

    Examples
    --------
    >>> model.train()  # doctest: +SKIP
    >>> fig = scotm.pl.training_curves(model)  # doctest: +SKIP
    """
    history = getattr(model_or_history, "history", model_or_history)
    history = list(history or [])
    if not history:
        raise ScotmInputError("no training history; train the model first (model.train())")
    epochs = np.array([row.get("epoch", i) for i, row in enumerate(history)], dtype=float) + 1
    fig, ax = _axes(ax, (4.2, 3.0))
    drawn = False
    for key, label, color in (
        ("train_loss", "training", PALETTE[0]),
        ("val_loss", "validation", PALETTE[1]),
    ):
        y = np.array([row.get(key, np.nan) for row in history], dtype=float)
        if np.isfinite(y).any():
            ax.plot(epochs, y, marker="o", markersize=2.5, color=color, label=label)
            drawn = True
    if not drawn:
        raise ScotmInputError("the history has no train_loss or val_loss")
    val = np.array([row.get("val_loss", np.nan) for row in history], dtype=float)
    if np.isfinite(val).any():
        best = int(np.nanargmin(val))
        ax.axvline(epochs[best], color="0.5", ls=":", lw=0.8, label=f"best epoch ({best + 1})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- output

_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def save(fig: Figure, path: str | os.PathLike, dpi: int = 300) -> Path:
    """Write ``fig`` to ``path`` (``.png``, ``.pdf`` or ``.svg``) atomically.

    Parameters
    ----------
    fig
        A figure, e.g. from any function of :mod:`scotm.pl`.
    path
        Output file; its suffix picks the format. Parent directories are created.
    dpi
        Resolution of PNG output and of rasterised scatter points in PDF/SVG.

    Returns
    -------
    The path written.

    Examples
    --------
    >>> scotm.pl.save(scotm.pl.training_curves(model), "curves.pdf")  # doctest: +SKIP
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ScotmInputError(
            f"cannot save a figure as '{path.suffix or path.name}'; use .png, .pdf or .svg"
        )
    with mpl.rc_context({k: STYLE[k] for k in ("pdf.fonttype", "svg.fonttype")}):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", facecolor="white")
    return path
