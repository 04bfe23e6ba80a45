"""The model's OT pairing in its latent space: :func:`ot_pairing`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._errors import ScotmInputError
from ._style import PALETTE, figure_axes, styled

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SCOTM


@styled
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
    fig, ax = figure_axes(ax, (4.8, 4.0))
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
