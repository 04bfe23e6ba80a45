"""Transfer rules on saved fold models (ad-hoc). Held-out perturbed cells are used only to score."""
import sys, os, logging, json
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np, anndata as ad, torch
torch.set_num_threads(1)
import scotm
from scotm import metrics, transport
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM, conditional
from scotm.model.predict import zero_below
logging.disable(logging.WARNING)
FOLDS = ["CD14+ Monocytes", "DC", "CD16+ Monocytes", "NK cells", "B", "CD4+ T cells", "CD8+ T cells", "T"]
seeds = [int(s) for s in sys.argv[1].split(",")]
folds = sys.argv[2].split(",") if len(sys.argv) > 2 else FOLDS
adata = scotm.pp.prepare(scotm.datasets.kang())
keys = Keys()
K = 30

def unit(a):
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

def per_type(zq, codes, shifts, types, k=K):
    """per type: the k-NN transferred shift and the mean top-k cosine similarity, per query."""
    out_s, out_sim = {}, {}
    qn = unit(zq)
    for t in np.unique(types):
        sel = types == t
        rn = unit(codes[sel])
        S = qn @ rn.T
        kk = min(k, S.shape[1])
        idx = np.argpartition(-S, kk - 1, axis=1)[:, :kk]
        sims = np.take_along_axis(S, idx, 1)
        w = np.maximum(sims, 1e-6); w = w / w.sum(1, keepdims=True)
        out_s[t] = np.einsum("nk,nkd->nd", w, shifts[sel][idx])
        out_sim[t] = sims.mean(1)
    return out_s, out_sim

def combine(out_s, out_sim, tau):
    ts = list(out_s)
    sim = np.stack([out_sim[t] for t in ts], 1)
    if tau == 0:
        w = (sim == sim.max(1, keepdims=True)).astype(float)
    else:
        w = np.exp((sim - sim.max(1, keepdims=True)) / tau)
    w /= w.sum(1, keepdims=True)
    return np.einsum("nt,tnd->nd", w, np.stack([out_s[t] for t in ts])), dict(zip(ts, w.mean(0).round(3)))

TAUS = [0, 0.01, 0.02, 0.05, 0.1]
rows = []
for seed in seeds:
    for h in folds:
        model = SCOTM.load(f"/tmp/models/{h.replace(' ', '_')}__{seed}")
        fold = holdout_split(adata, h, keys)
        degs = metrics.top_degs(fold.ctrl, fold.real)
        name = model.perturbations[0]
        ref = model.references[name]
        codes, shifts, types = ref.codes.astype(np.float64), ref.shifts.astype(np.float64), ref.cell_types
        z = model.get_latent(fold.ctrl)
        def score(shift, zz=z, ctrl=fold.ctrl, real=fold.real, dg=degs):
            X, _ = conditional.predict_expression(model, ctrl.X, zz, shift, name)
            pred = ad.AnnData(zero_below(X, 0.1).astype(np.float32), obs=ctrl.obs, var=ctrl.var)
            return metrics.evaluate(ctrl, real, pred, dg)
        variants = {"default": transport.transfer_shifts(z, codes, shifts, K)[0]}
        ps, psim = per_type(z, codes, shifts, types)
        for tau in TAUS:
            variants[f"type_tau{tau}"], wts = combine(ps, psim, tau)
            if tau == 0.02:
                info = {t: float(np.round(psim[t].mean(), 3)) for t in psim}
        # inner validation: each training type held out of the reference, predicted by each rule
        inner = {v: [] for v in variants}
        tr = fold.train; cond = keys.conditions(tr); ctypes = keys.cell_types(tr)
        for u in np.unique(types):
            sel = types == u
            zu = codes[sel]
            cu = tr[(ctypes == u) & (cond == keys.control)]
            ru = tr[(ctypes == u) & (cond == name)]
            zu = model.get_latent(cu)
            du = metrics.top_degs(cu, ru)
            iv = {"default": transport.transfer_shifts(zu, codes[~sel], shifts[~sel], K)[0]}
            ps_u, psim_u = per_type(zu, codes[~sel], shifts[~sel], types[~sel])
            for tau in TAUS:
                iv[f"type_tau{tau}"] = combine(ps_u, psim_u, tau)[0]
            for v, s in iv.items():
                inner[v].append(score(s, zu, cu, ru, du)["r2_mean_deg"])
        for v, s in variants.items():
            r = score(s)
            r.update(holdout=h, seed=seed, variant=v, inner=float(np.mean(inner[v])))
            rows.append(r)
            print(h, seed, v, f"{r['r2_mean_deg']:.3f} {r['delta_r_deg']:.3f} var {r['r2_var_deg']:.3f} ed {r['edist']:.3f} | inner {r['inner']:.3f}", flush=True)
        print(h, seed, "type sims", info, flush=True)
import pandas as pd
pd.DataFrame(rows).to_csv(f"/tmp/proto/rules_{sys.argv[1].replace(',', '_')}.csv", index=False)
