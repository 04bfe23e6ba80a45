"""Ad-hoc screen: decode each neighbour's latent shift at the held-out cell, then average the
decoded changes (decode-then-average), or decode one neighbour's shift drawn by its weight,
instead of decoding the weighted mean shift (average-then-decode, the default). The decoder is
nonlinear, so the two differ where the neighbours' shifts differ. Uses the fold models saved by
transfer_ceiling.py (MODELS/<fold>__<seed>), with the default's balanced neighbour weights.
    python decode_each.py MODELS OUT.csv [SEEDS...]
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
models, out = sys.argv[1], sys.argv[2]
seeds = [int(s) for s in sys.argv[3:]] or [0, 1, 2]
adata = scotm.pp.prepare(scotm.datasets.kang())
rows = []
for holdout in [
    "CD14+ Monocytes",
    "DC",
    "CD16+ Monocytes",
    "NK cells",
    "B",
    "CD4+ T cells",
    "CD8+ T cells",
    "T",
]:
    fold = holdout_split(adata, holdout, Keys())
    degs = metrics.top_degs(fold.ctrl, fold.real)
    for seed in seeds:
        model = SCOTM.load(f"{models}/{holdout.replace(' ', '_')}__{seed}")
        model = model.variant(neighbour_weights="balanced")
        ref = model.references["stimulated"]
        codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
        z = model.get_latent(fold.ctrl)
        w_ref = transport.group_balance(ref.cell_types)
        shift, idx, w = transport.transfer_shifts(
            z, codes, shifts, model.settings.k, per_cell=True, ref_weights=w_ref
        )
        X = np.asarray(
            fold.ctrl.X.toarray() if hasattr(fold.ctrl.X, "toarray") else fold.ctrl.X, np.float64
        )
        base = P.decode(model.module, z)
        d_default = P.decode(model.module, z + shift) - base
        d_each = np.zeros_like(d_default)
        for j in range(idx.shape[1]):
            d_each += w[:, j, None] * (P.decode(model.module, z + shifts[idx[:, j]]) - base)
        rng = np.random.default_rng(seed)
        pick = (rng.random(len(z))[:, None] > np.cumsum(w, 1)).sum(1).clip(max=idx.shape[1] - 1)
        d_draw = P.decode(model.module, z + shifts[idx[np.arange(len(z)), pick]]) - base
        for name, d in (("default", d_default), ("each", d_each), ("draw", d_draw)):
            Xp = P.zero_below(np.clip(X + d, 0, None), model.settings.zero_below)
            pred = fold.ctrl.copy()
            pred.X = Xp.astype(np.float32)
            row = {"holdout": holdout, "seed": seed, "variant": name}
            row.update(metrics.evaluate(fold.ctrl, fold.real, pred, degs))
            rows.append(row)
            print(
                holdout,
                seed,
                name,
                round(row["r2_mean_deg"], 3),
                round(row["delta_r_deg"], 3),
                round(row["r2_var_deg"], 3),
                round(row["edist"], 3),
                flush=True,
            )
pd.DataFrame(rows).to_csv(out, index=False)
