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

One module per figure family: :mod:`~scotm.pl.regression`, :mod:`~scotm.pl.embeddings` and
:mod:`~scotm.pl.violins` (a prediction of one cell type), :mod:`~scotm.pl.folds` (a
benchmark), :mod:`~scotm.pl.sources`, :mod:`~scotm.pl.pairing` and :mod:`~scotm.pl.curves`
(the model), and :mod:`~scotm.pl.output` (saving). Their shared colours and sizes live in
``scotm.pl._style`` and are public here (:data:`GROUP_COLORS`, :data:`PALETTE`, :data:`STYLE`,
:data:`METRIC_LABELS`).
"""

from __future__ import annotations

from ._style import GROUP_COLORS, METRIC_LABELS, PALETTE, STYLE  # noqa: F401 (public constants)
from .curves import training_curves
from .embeddings import embedding
from .folds import fold_bars
from .output import save
from .pairing import ot_pairing
from .regression import mean_regression
from .sources import shift_sources
from .violins import deg_violins

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
