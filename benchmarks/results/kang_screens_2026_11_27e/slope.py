"""The size of the mean change: decoding the mean shift (default) against averaging each
neighbour's decoded shift (`each`), as the slope of the predicted on the real mean change
over the fold's top-100 DEGs (1 = the right size). Same saved models as decode_each.py.
    python slope.py [MODELS]
"""

import sys

import numpy as np
import torch

import scotm
from scotm import metrics, transport
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM
from scotm.model import predict as P


def dense(a) -> np.ndarray:
    return np.asarray(a.X.toarray() if hasattr(a.X, "toarray") else a.X, np.float64)


def slope(d: np.ndarray, real: np.ndarray) -> float:
    return float(d @ real / (real @ real))


torch.set_num_threads(1)
models = sys.argv[1] if len(sys.argv) > 1 else "/tmp/models"
adata = scotm.pp.prepare(scotm.datasets.kang())
for holdout in ["NK cells", "DC", "CD14+ Monocytes", "B"]:
    fold = holdout_split(adata, holdout, Keys())
    gi = fold.ctrl.var_names.get_indexer(metrics.top_degs(fold.ctrl, fold.real))
    real = dense(fold.real).mean(0)[gi] - dense(fold.ctrl).mean(0)[gi]
    for seed in (0, 1, 2):
        model = SCOTM.load(f"{models}/{holdout.replace(' ', '_')}__{seed}")
        model = model.variant(neighbour_weights="balanced")
        ref = model.references["stimulated"]
        codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
        z = model.get_latent(fold.ctrl)
        shift, idx, w = transport.transfer_shifts(
            z, codes, shifts, model.settings.k, per_cell=True,
            ref_weights=transport.group_balance(ref.cell_types),
        )  # fmt: skip
        base = P.decode(model.module, z)
        d_default = (P.decode(model.module, z + shift) - base).mean(0)[gi]
        d_each = np.zeros_like(d_default)
        for j in range(idx.shape[1]):
            d = P.decode(model.module, z + shifts[idx[:, j]]) - base
            d_each += (w[:, j, None] * d).mean(0)[gi]
        print(f"{holdout} {seed} slope default {slope(d_default, real):.2f} "
              f"each {slope(d_each, real):.2f}", flush=True)  # fmt: skip
