"""Two size corrections for the held-out type's response, measured on the saved fold models
(as decode_each.py); printed per fold, neither adopted:
  c_ctrl   the decoder's shrinkage on the held-out type's own control cells, along the
           predicted mean change u: the regression of the cells' centred expression on
           their centred reconstruction, both projected on u (needs no perturbed cell)
  linear   a ridge map from latent shifts to decoded changes, fitted on the training types'
           OT pairs (balanced weights), applied to the transferred shifts; its change's
           projection on the default's (c_lin) as a size for the default's change
Each against `need`, 1 / the default's slope (the slope of the predicted on the real mean
change over the top-100 DEGs, which reads the held-out perturbed cells).
    python size_corrections.py [MODELS] [SEEDS...]
"""

import sys

import numpy as np
import torch
from sklearn.linear_model import Ridge

import scotm
from scotm import metrics, transport
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM
from scotm.model import predict as P


def dense(a) -> np.ndarray:
    return np.asarray(a.X.toarray() if hasattr(a.X, "toarray") else a.X, np.float64)


torch.set_num_threads(1)
models = sys.argv[1] if len(sys.argv) > 1 else "/tmp/models"
seeds = [int(s) for s in sys.argv[2:]] or [0]
adata = scotm.pp.prepare(scotm.datasets.kang())
for holdout in ["CD14+ Monocytes", "DC", "CD16+ Monocytes", "NK cells", "B", "CD4+ T cells",
                "CD8+ T cells", "T"]:  # fmt: skip
    fold = holdout_split(adata, holdout, Keys())
    gi = fold.ctrl.var_names.get_indexer(metrics.top_degs(fold.ctrl, fold.real))
    Xc = dense(fold.ctrl)
    real = dense(fold.real).mean(0)[gi] - Xc.mean(0)[gi]

    def slope(d: np.ndarray, real: np.ndarray = real, gi: np.ndarray = gi) -> float:
        return float(d[gi] @ real / (real @ real))

    for seed in seeds:
        model = SCOTM.load(f"{models}/{holdout.replace(' ', '_')}__{seed}")
        model = model.variant(neighbour_weights="balanced")
        ref = model.references["stimulated"]
        codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
        balance = transport.group_balance(ref.cell_types)
        z = model.get_latent(fold.ctrl)
        shift, _, _ = transport.transfer_shifts(
            z, codes, shifts, model.settings.k, per_cell=True, ref_weights=balance
        )
        base = P.decode(model.module, z)
        d = (P.decode(model.module, z + shift) - base).mean(0)
        u = d / np.linalg.norm(d)
        a, b = (Xc - Xc.mean(0)) @ u, (base - base.mean(0)) @ u
        c_ctrl = float(a @ b / (b @ b))
        d_ref = P.decode(model.module, codes + shifts) - P.decode(model.module, codes)
        lin = Ridge(alpha=1.0).fit(shifts, d_ref, sample_weight=balance)
        d_lin = lin.predict(shift).mean(0)
        c_lin = float(d @ d_lin / (d @ d))  # the linear change's size along the default's
        print(f"{holdout} {seed}: default slope {slope(d):.2f}, need {1 / slope(d):.2f} | "
              f"c_ctrl {c_ctrl:.2f} | linear slope {slope(d_lin):.2f}, as a size for the "
              f"default's change {c_lin:.2f} -> slope {slope(c_lin * d):.2f}", flush=True)  # fmt: skip
