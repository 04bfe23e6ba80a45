"""Training and validation loss per epoch: :func:`training_curves`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._errors import ScotmInputError
from ._style import PALETTE, figure_axes, styled

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SCOTM


@styled
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
    fig, ax = figure_axes(ax, (4.2, 3.0))
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
