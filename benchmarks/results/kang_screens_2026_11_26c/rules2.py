"""Neighbour search space for the transfer (ad-hoc, on saved fold models)."""
import sys, os, logging
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np, anndata as ad, torch, pandas as pd
torch.set_num_threads(1)
import scotm
from scotm import metrics, transport
from scotm._arrays import dense
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM, conditional
from scotm.model.predict import zero_below
from sklearn.decomposition import PCA
logging.disable(logging.WARNING)
FOLDS = ["CD14+ Monocytes", "DC", "CD16+ Monocytes", "NK cells", "B", "CD4+ T cells", "CD8+ T cells", "T"]
seeds = [int(s) for s in sys.argv[1].split(",")]
folds = sys.argv[2].split(",") if len(sys.argv) > 2 else FOLDS
adata = scotm.pp.prepare(scotm.datasets.kang()); keys = Keys()
K = 30

def knn(q, r, k, metric):
    if metric == "cos":
        return transport.cosine_topk(q, r, k)
    d = ((q**2).sum(1)[:, None] - 2 * q @ r.T + (r**2).sum(1)[None])
    idx = np.argpartition(d, k - 1, axis=1)[:, :k]
    w = np.ones(idx.shape) / k
    return idx, w

def tr(q, r, shifts, k, metric):
    idx, w = knn(q, r, k, metric)
    return np.einsum("nk,nkd->nd", w, shifts[idx])

rows = []
for seed in seeds:
    for h in folds:
        model = SCOTM.load(f"/tmp/models/{h.replace(' ', '_')}__{seed}")
        fold = holdout_split(adata, h, keys)
        degs = metrics.top_degs(fold.ctrl, fold.real)
        name = model.perturbations[0]
        ref = model.references[name]
        codes, shifts, types = ref.codes.astype(np.float64), ref.shifts.astype(np.float64), ref.cell_types
        trn = fold.train
        cond = keys.conditions(trn); ctypes = keys.cell_types(trn)
        ctrl_all = trn[cond == keys.control]
        ref_names = set(ref.obs_names)
        # PCA of control expression (training controls, held-out controls among them)
        pca = PCA(50, random_state=0).fit(dense(ctrl_all.X))
        P = pd.DataFrame(pca.transform(dense(ctrl_all.X)), index=ctrl_all.obs_names)
        Pref = P.loc[ref.obs_names].to_numpy()
        def score(shift, zz, ctrl, real, dg):
            X, _ = conditional.predict_expression(model, ctrl.X, zz, shift, name)
            pred = ad.AnnData(zero_below(X, 0.1).astype(np.float32), obs=ctrl.obs, var=ctrl.var)
            return metrics.evaluate(ctrl, real, pred, dg)
        def variants(zq, pq, sel):
            return {
                "default": tr(zq, codes[sel], shifts[sel], K, "cos"),
                "euclid": tr(zq, codes[sel], shifts[sel], K, "euc"),
                "pca_cos": tr(pq, Pref[sel], shifts[sel], K, "cos"),
                "pca_euc": tr(pq, Pref[sel], shifts[sel], K, "euc"),
            }
        z = model.get_latent(fold.ctrl)
        pq = P.loc[fold.ctrl.obs_names].to_numpy()
        inner = {}
        for u in np.unique(types):
            sel = types == u
            cu = trn[(ctypes == u) & (cond == keys.control)]
            ru = trn[(ctypes == u) & (cond == name)]
            zu = model.get_latent(cu); pu = P.loc[cu.obs_names].to_numpy()
            du = metrics.top_degs(cu, ru)
            for v, s in variants(zu, pu, ~sel).items():
                inner.setdefault(v, []).append(score(s, zu, cu, ru, du)["r2_mean_deg"])
        for v, s in variants(z, pq, np.ones(len(codes), bool)).items():
            r = score(s, z, fold.ctrl, fold.real, degs)
            r.update(holdout=h, seed=seed, variant=v, inner=float(np.mean(inner[v])))
            rows.append(r)
            print(h, seed, v, f"{r['r2_mean_deg']:.3f} {r['delta_r_deg']:.3f} var {r['r2_var_deg']:.3f} ov {r['deg_overlap']:.3f} ed {r['edist']:.3f} | inner {r['inner']:.3f}", flush=True)
pd.DataFrame(rows).to_csv(f"/tmp/proto/rules2_{sys.argv[1].replace(',', '_')}.csv", index=False)
