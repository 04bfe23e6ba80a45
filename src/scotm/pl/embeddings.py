"""Control, real and predicted cells in one 2-D embedding: :func:`embedding`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._errors import ScotmInputError
from ..metrics import dense
from ._style import GROUP_COLORS, check_same_genes, figure_axes, styled

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad


@styled
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
    check_same_genes(ctrl, real, pred)
    c, r, p = (dense(a.X) for a in (ctrl, real, pred))
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
    fig, ax = figure_axes(ax, (4.2, 3.8))
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
