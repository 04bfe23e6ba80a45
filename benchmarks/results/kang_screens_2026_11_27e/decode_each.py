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
from _fold_models import fold_models

from scotm import metrics
from scotm._arrays import dense64
from scotm.model import predict as P

models, out = sys.argv[1], sys.argv[2]
rows = []
for f in fold_models(models, [int(s) for s in sys.argv[3:]] or [0, 1, 2]):
    X = dense64(f.fold.ctrl.X)
    d_default = f.decode(f.z + f.shift) - f.base
    d_each = np.zeros_like(d_default)
    for j in range(f.idx.shape[1]):
        d_each += f.w[:, j, None] * (f.decode(f.z + f.shifts[f.idx[:, j]]) - f.base)
    rng = np.random.default_rng(f.seed)
    n, k = f.idx.shape
    pick = (rng.random(n)[:, None] > np.cumsum(f.w, 1)).sum(1).clip(max=k - 1)
    d_draw = f.decode(f.z + f.shifts[f.idx[np.arange(n), pick]]) - f.base
    for name, d in (("default", d_default), ("each", d_each), ("draw", d_draw)):
        pred = f.fold.ctrl.copy()
        pred.X = P.zero_below(np.clip(X + d, 0, None), f.model.settings.zero_below)
        pred.X = pred.X.astype(np.float32)
        row = {"holdout": f.holdout, "seed": f.seed, "variant": name}
        row.update(metrics.evaluate(f.fold.ctrl, f.fold.real, pred, f.degs))
        rows.append(row)
        print(f.holdout, f.seed, name, *(round(row[c], 3) for c in
              ("r2_mean_deg", "delta_r_deg", "r2_var_deg", "edist")), flush=True)  # fmt: skip
pd.DataFrame(rows).to_csv(out, index=False)
