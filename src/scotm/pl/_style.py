"""What every figure of :mod:`scotm.pl` shares: colours, sizes, its Axes and input checks."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._errors import ScotmInputError
from ..metrics import check_genes, top_degs

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

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


def styled(func: F) -> F:
    """Draw ``func``'s artists under :data:`STYLE` without touching the global rcParams."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def figure_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The given Axes and its (root) figure, or a new constrained-layout figure with one Axes."""
    if ax is not None:
        fig = ax.figure
        while not isinstance(fig, Figure):  # an Axes of a SubFigure: its root figure
            fig = fig.figure
        return fig, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def fmt(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or ``n/a`` when it is missing or not finite."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def check_same_genes(ctrl: ad.AnnData, real: ad.AnnData, pred: ad.AnnData) -> None:
    """Raise unless ``real`` and ``pred`` have ``ctrl``'s genes in the same order."""
    check_genes(ctrl, real, "real")
    check_genes(ctrl, pred, "pred")


def resolve_degs(ctrl: ad.AnnData, real: ad.AnnData, degs: Sequence[str] | None) -> list[str]:
    """The given DEGs, or the pinned protocol's top DEGs (real cells only)."""
    degs = list(top_degs(ctrl, real) if degs is None else degs)
    genes = set(ctrl.var_names)
    missing = [g for g in degs if g not in genes]
    if missing:
        raise ScotmInputError(
            f"{len(missing)} DEG(s) are not among the genes (e.g. {', '.join(missing[:3])}); "
            "pass genes of ctrl.var_names"
        )
    return degs
