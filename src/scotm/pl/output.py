"""Writing a figure to PNG, PDF or SVG: :func:`save`."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure

from .._errors import ScotmInputError
from .._io import atomic_path
from ._style import STYLE

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
