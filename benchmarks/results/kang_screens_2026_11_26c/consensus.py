import sys, os, logging
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np, anndata as ad, torch, pandas as pd
torch.set_num_threads(1)
import scotm
from scotm import metrics, transport
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM, conditional
from scotm.model.predict import zero_below, transfer
logging.disable(logging.WARNING)
FOLDS = ["CD14+ Monocytes", "DC", "CD16+ Monocytes", "NK cells", "B", "CD4+ T cells", "CD8+ T cells", "T"]
adata = scotm.pp.prepare(scotm.datasets.kang()); keys = Keys()
rows = []
for seed in (0, 1, 2):
    for h in FOLDS:
        model = SCOTM.load(f"/tmp/models/{h.replace(' ', '_')}__{seed}")
        fold = holdout_split(adata, h, keys); degs = metrics.top_degs(fold.ctrl, fold.real)
        name = model.perturbations[0]; ref = model.references[name]
        codes, shifts, types = ref.codes.astype(float), ref.shifts.astype(float), ref.cell_types
        z = model.get_latent(fold.ctrl)
        default, shares = transfer(ref, z, 30, True)
        vs = {"default": default}
        for th in (0.05, 0.1, 0.2):
            keep = np.isin(types, [t for t, v in shares.items() if v >= th])
            vs[f"keep{th}"] = transport.transfer_shifts(z, codes[keep], shifts[keep], 30)[0]
        for v, s in vs.items():
            X, _ = conditional.predict_expression(model, fold.ctrl.X, z, s, name)
            pred = ad.AnnData(zero_below(X, 0.1).astype(np.float32), obs=fold.ctrl.obs, var=fold.ctrl.var)
            r = metrics.evaluate(fold.ctrl, fold.real, pred, degs); r.update(holdout=h, seed=seed, variant=v); rows.append(r)
        print(h, seed, {r["variant"]: round(r["r2_mean_deg"], 3) for r in rows[-4:]}, flush=True)
t = pd.DataFrame(rows); t.to_csv("/tmp/proto/consensus.csv", index=False)
print(t.groupby(["variant", "seed"])[["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]].mean().groupby(level=0).agg(["mean", "min", "max"]).round(3).T)
