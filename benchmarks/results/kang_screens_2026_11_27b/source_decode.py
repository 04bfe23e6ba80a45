"""Ad-hoc screen: decode each neighbour's shift at the neighbour (where the decoder has seen
perturbed cells of its type), and transfer the decoded gene-space change instead of the
latent shift. Uses the 24 fold models saved by transfer_ceiling.py (/tmp/models), with the
default's balanced neighbour weights. Rows:
  default    the model's prediction (x + D(z + s) - D(z), s the transferred latent shift)
  source     x + sum_j w_ij [D(z_j + s_j) - D(z_j)], the reference cells' decoded changes
  half       the mean of the two changes
    python source_decode.py OUT.csv
"""

import sys

import numpy as np
import pandas as pd
import torch

import scotm
from scotm import metrics, transport
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM
from scotm.model import predict as P

torch.set_num_threads(1)
adata = scotm.pp.prepare(scotm.datasets.kang())
rows = []
for holdout in ["CD14+ Monocytes", "DC", "CD16+ Monocytes", "NK cells", "B", "CD4+ T cells",
                "CD8+ T cells", "T"]:
    fold = holdout_split(adata, holdout, Keys())
    degs = metrics.top_degs(fold.ctrl, fold.real)
    for seed in (0, 1, 2):
        model = SCOTM.load(f"/tmp/models/{holdout.replace(' ', '_')}__{seed}")
        model = model.variant(neighbour_weights="balanced")
        ref = model.references["stimulated"]
        codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
        dref = P.decode(model.module, codes + shifts) - P.decode(model.module, codes)
        z = model.get_latent(fold.ctrl)
        w_ref = transport.group_balance(ref.cell_types)
        shift, idx, w = transport.transfer_shifts(z, codes, shifts, model.settings.k,
                                                  per_cell=True, ref_weights=w_ref)
        X = np.asarray(fold.ctrl.X.toarray() if hasattr(fold.ctrl.X, "toarray") else fold.ctrl.X,
                       np.float64)
        d_target = P.decode(model.module, z + shift) - P.decode(model.module, z)
        d_source = np.einsum("nk,nkg->ng", w, dref[idx])
        for name, d in (("default", d_target), ("source", d_source),
                        ("half", 0.5 * (d_target + d_source))):
            Xp = P.zero_below(np.clip(X + d, 0, None), model.settings.zero_below)
            pred = fold.ctrl.copy()
            pred.X = Xp.astype(np.float32)
            row = {"holdout": holdout, "seed": seed, "variant": name}
            row.update(metrics.evaluate(fold.ctrl, fold.real, pred, degs))
            rows.append(row)
            print(holdout, seed, name, round(row["r2_mean_deg"], 3), round(row["delta_r_deg"], 3),
                  round(row["edist"], 3), flush=True)
pd.DataFrame(rows).to_csv(sys.argv[1], index=False)
