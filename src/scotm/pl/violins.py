"""Expression of the top DEGs per group, as violins: :func:`deg_violins`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._errors import ScotmInputError
from ..metrics import dense
from ._style import GROUP_COLORS, check_same_genes, figure_axes, resolve_degs, styled

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad


@styled
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
    check_same_genes(ctrl, real, pred)
    genes = resolve_degs(ctrl, real, None)[:n] if genes is None else resolve_degs(ctrl, real, genes)
    if not genes:
        raise ScotmInputError("no genes to show; pass genes= or n >= 1")
    idx = ctrl.var_names.get_indexer(genes)
    fig, ax = figure_axes(ax, (max(4.0, 0.75 * len(genes) + 1.2), 3.2))
    width, offsets = 0.26, (-0.28, 0.0, 0.28)
    groups = (("control", ctrl), ("real", real), ("predicted", pred))
    for (name, a), off in zip(groups, offsets, strict=True):
        X = dense(a.X[:, idx])
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
