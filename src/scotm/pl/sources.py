"""Where a SCOTM prediction's shift came from: :func:`shift_sources`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._errors import ScotmInputError
from ._style import PALETTE, figure_axes, styled

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad


@styled
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
    fig, ax = figure_axes(ax, (4.2, max(2.4, 0.32 * len(names) + 1.0)))
    bars = ax.barh(np.arange(len(names)), shares_pct, color=PALETTE[0], height=0.7)
    ax.bar_label(bars, labels=[f"{v:.1f}%" for v in shares_pct], padding=2, fontsize=7)
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names)
    ax.set_xlim(0, max(shares_pct) * 1.18 or 1)
    ax.set_xlabel("share of the predicted shift (%)")
    ax.set_ylabel("training cell type")
    ax.set_title(title or "where the predicted shift comes from")
    return fig
