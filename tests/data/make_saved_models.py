"""Regenerate ``saved_v2/``: two tiny models saved in model format 2, and their predictions.

Written on the code before the redesign of issue 10 (commit bfe8099), so that
``tests/test_saved_models.py`` can show that models saved by that code still load and
predict the same (within float32 rounding) after it:

- ``plain``: one perturbation, no priors (the published method);
- ``priors``: two perturbations, a cell embedding and perturbation embeddings, so the saved
  model carries the response network and its embedding table.

    python tests/data/make_saved_models.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

import scotm
from scotm.model import SCOTM

OUT = Path(__file__).with_name("saved_v2")
TINY = {
    "hidden": (16, 8),
    "n_latent": 4,
    "max_epochs": 2,
    "num_threads": 1,
    "seed": 3,
    "response_hidden": (16, 16),
}
PERT_EMB = {"stimA": [1.0, 0.0, 0.5], "stimB": [0.0, 1.0, -0.5], "stimC": [0.5, 0.5, 0.0]}


def data() -> tuple:
    """(training cells with two perturbations and a cell embedding, their control cells)."""
    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=120, n_genes=20, seed=11), n_top_genes=None)
    cond = adata.obs["condition"].astype(str).to_numpy().copy()
    stim = np.flatnonzero(cond == "stimulated")
    cond[stim[::2]] = "stimA"
    cond[stim[1::2]] = "stimB"
    adata.obs["drug"] = cond
    X = np.asarray(adata.X.todense())
    adata.obsm["X_cell"] = np.stack([X[:, :3].sum(1), X[:, 3:6].sum(1)], axis=1).astype(np.float32)
    ctrl = adata[cond == "control"].copy()
    return adata, ctrl


def models(adata) -> dict[str, SCOTM]:
    """The two trained models (one thread, fixed seed)."""
    plain = adata[adata.obs["drug"].isin(["control", "stimA"]).to_numpy()].copy()
    return {
        "plain": SCOTM(plain, "drug", "control", "stimA", **TINY),
        "priors": SCOTM(
            adata,
            "drug",
            "control",
            None,
            cell_embedding_key="X_cell",
            perturbation_embeddings=PERT_EMB,
            perturbation_embedding_source="hand-written 3-d",
            **TINY,
        ),
    }


def predictions(model: SCOTM, ctrl) -> dict[str, np.ndarray]:
    """Every prediction a saved model serves: each training perturbation, and an unseen one."""
    names = list(model.perturbations) + (["stimC"] if model.response is not None else [])
    out = {}
    for name in names:
        unseen = name not in model.perturbations  # the saved table holds training ones only
        # the stored unseen prediction came from the response network (the default for an
        # unseen perturbation until the ridge route replaced it), so ask for it by name
        pred = model.predict(
            ctrl,
            name,
            perturbation_embedding=PERT_EMB[name] if unseen else None,
            source="response" if unseen else "auto",
        )
        out[f"{name}_X"] = np.asarray(pred.X)
        out[f"{name}_z_new"] = pred.obsm["X_scotm_shifted"]
    return out


def main() -> None:
    adata, ctrl = data()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir()
        for name, model in models(adata).items():
            model.train(progress=False)
            model.save(OUT / name)
            np.savez(OUT / f"{name}_pred.npz", **predictions(model, ctrl))
    finally:
        torch.set_num_threads(threads)
    print(sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()
