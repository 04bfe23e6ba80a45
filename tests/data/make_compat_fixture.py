"""Regenerate ``compat_pred.npz``: predictions of the single-perturbation, no-prior model.

Run ONLY on the code whose behaviour the fixture pins (it was generated at commit e0da0b4,
before multi-perturbation and prior support existed). ``tests/test_compat.py`` then checks
that today's code gives the same predictions, within float32 rounding, for the same seed and
one thread.

    python tests/data/make_compat_fixture.py
"""

from pathlib import Path

import numpy as np
import torch

import scotm
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM

SETTINGS = {"hidden": (32, 16), "n_latent": 4, "max_epochs": 3, "num_threads": 1, "seed": 7}
# the model of the fixture's time: a ReLU output, nothing zeroed, neighbours weighted by
# similarity alone, the MMD prior at weight 1 (defaults since changed)
SETTINGS.update(output_activation="relu", zero_below=0.0, neighbour_weights="similarity", beta=1.0)


def compute(**changes) -> dict[str, np.ndarray]:
    """The pinned run; ``changes`` override SETTINGS (the tests use it to show the tolerance
    still sees a real change)."""
    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=240, n_genes=30, seed=5), n_top_genes=None)
    fold = holdout_split(adata, "type2", Keys())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = SCOTM(fold.train, **{**SETTINGS, **changes}).train(progress=False)
        pred = model.predict(fold.ctrl)
    finally:
        torch.set_num_threads(threads)
    return {
        "X": np.asarray(pred.X),
        "z": pred.obsm["X_scotm"],
        "z_new": pred.obsm["X_scotm_shifted"],
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("compat_pred.npz")
    np.savez(out, **compute())
    print(out, out.stat().st_size)
