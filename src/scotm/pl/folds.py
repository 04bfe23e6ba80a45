"""A benchmark's metric per held-out fold and method: :func:`fold_bars`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._errors import ScotmInputError
from ._style import METRIC_LABELS, PALETTE, figure_axes, styled

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@styled
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
    fig, ax = figure_axes(ax, (max(4.0, 0.35 * n_groups * n_methods + 1.8), 3.2))
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
