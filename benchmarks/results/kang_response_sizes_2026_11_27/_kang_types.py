"""What both scripts here read: Kang's real cells, prepared, and each type's mean cell."""

from __future__ import annotations

import numpy as np

import scotm
from scotm import effects
from scotm._arrays import dense64

adata = scotm.pp.prepare(scotm.datasets.kang())
cell_type = adata.obs["cell_type"].astype(str).to_numpy()
ctrl = adata.obs["condition"].astype(str).to_numpy() == "control"
types = sorted(set(cell_type))
X = dense64(adata.X)


def type_means(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Each type's mean over the cells of ``mask`` (a boolean over all cells)."""
    means = effects.means(X[mask], cell_type[mask], types).to_numpy()
    return dict(zip(types, means, strict=True))
