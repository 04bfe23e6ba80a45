"""A tiny training type: CD16+ Monocytes cut to N control and N perturbed cells in training
(ad-hoc). The default (balanced) and neighbour_weights="similarity" on the same network."""
import os, sys, logging
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np, torch, pandas as pd
torch.set_num_threads(1)
logging.disable(logging.WARNING)
import scotm
from scotm import metrics
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM
holdout, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
adata = scotm.pp.prepare(scotm.datasets.kang()); keys = Keys()
fold = holdout_split(adata, holdout, keys)
tr = fold.train
ct, cond = keys.cell_types(tr), keys.conditions(tr)
rng = np.random.default_rng(seed)
keep = np.ones(tr.n_obs, bool)
for c in ("control", "stimulated"):
    idx = np.flatnonzero((ct == "CD16+ Monocytes") & (cond == c))
    keep[idx] = False
    keep[rng.choice(idx, n, replace=False)] = True
tr = tr[keep].copy()
degs = metrics.top_degs(fold.ctrl, fold.real)
m = SCOTM(tr, **keys.as_kwargs(), seed=seed, num_threads=1).train(progress=False)
rows = []
for nw in ("balanced", "similarity"):
    pred = m.variant(neighbour_weights=nw).predict(fold.ctrl)
    r = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
    share = pred.uns["scotm"]["shift_sources"].get("CD16+ Monocytes", 0.0)
    rows.append({"holdout": holdout, "seed": seed, "n_cd16": n, "weights": nw, "cd16_share": share, **r})
    print(holdout, seed, n, nw, f"r2 {r['r2_mean_deg']:.3f} dr {r['delta_r_deg']:.3f} ed {r['edist']:.2f} cd16 share {share:.3f}", flush=True)
pd.DataFrame(rows).to_csv(f"/tmp/tiny/{holdout.replace(' ', '_')}_{seed}_{n}.csv", index=False)
