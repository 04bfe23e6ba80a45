"""Where a held-out type's response loses its size: the latent shift, or the autoencoder.

Per fold, on the saved fold models (as decode_each.py), the slope of a predicted on the real
mean change over the held-out type's top-100 DEGs (1 = the right size), for:
  transfer   the default's prediction, D(z + transferred shift) - D(z)
  oracle     the held-out type's own mean latent shift (its real perturbed cells encoded)
  recon      the real perturbed cells encoded and decoded, D(E(x_stim)) - D(E(x_ctrl))
  seen       the same reconstruction slope for each training type, on its own top DEGs
             (states the autoencoder was trained on): median over the training types
and the transferred and oracle mean latent shifts' norms and cosine. Diagnostic only: every
column but `transfer` uses the held-out perturbed cells.
    python ae_diagnostic.py [MODELS] [SEEDS...]
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


def recon_slope(model, ctrl, stim) -> float:
    """The reconstruction slope of one type's response on its own top DEGs."""
    gi = ctrl.var_names.get_indexer(metrics.top_degs(ctrl, stim))
    real = dense(stim).mean(0)[gi] - dense(ctrl).mean(0)[gi]
    rec = P.decode(model.module, model.get_latent(stim)).mean(0)
    rec -= P.decode(model.module, model.get_latent(ctrl)).mean(0)
    return float(rec[gi] @ real / (real @ real))


torch.set_num_threads(1)
models = sys.argv[1] if len(sys.argv) > 1 else "/tmp/models"
seeds = [int(s) for s in sys.argv[2:]] or [0]
keys = Keys()
adata = scotm.pp.prepare(scotm.datasets.kang())
print("fold seed | slope: transfer oracle recon seen | |shift| transfer oracle cos")
for holdout in ["CD14+ Monocytes", "DC", "CD16+ Monocytes", "NK cells", "B", "CD4+ T cells",
                "CD8+ T cells", "T"]:  # fmt: skip
    fold = holdout_split(adata, holdout, keys)
    gi = fold.ctrl.var_names.get_indexer(metrics.top_degs(fold.ctrl, fold.real))
    real = dense(fold.real).mean(0)[gi] - dense(fold.ctrl).mean(0)[gi]

    def slope(d: np.ndarray, real: np.ndarray = real, gi: np.ndarray = gi) -> float:
        return float(d[gi] @ real / (real @ real))

    types = fold.train.obs[keys.cell_type_key].astype(str).to_numpy()
    cond = fold.train.obs[keys.condition_key].astype(str).to_numpy()
    for seed in seeds:
        model = SCOTM.load(f"{models}/{holdout.replace(' ', '_')}__{seed}")
        model = model.variant(neighbour_weights="balanced")
        ref = model.references["stimulated"]
        codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
        z, zs = model.get_latent(fold.ctrl), model.get_latent(fold.real)
        shift, _, _ = transport.transfer_shifts(
            z, codes, shifts, model.settings.k, per_cell=True,
            ref_weights=transport.group_balance(ref.cell_types),
        )  # fmt: skip
        base = P.decode(model.module, z)
        d_transfer = (P.decode(model.module, z + shift) - base).mean(0)
        oracle = zs.mean(0) - z.mean(0)
        d_oracle = (P.decode(model.module, z + oracle) - base).mean(0)
        d_recon = P.decode(model.module, zs).mean(0) - base.mean(0)
        seen = [
            recon_slope(model, fold.train[(types == t) & (cond == keys.control)],
                        fold.train[(types == t) & (cond != keys.control)])
            for t in np.unique(types[cond != keys.control])  # not the held-out type's controls
        ]  # fmt: skip
        t_mean = shift.mean(0)
        cos = t_mean @ oracle / np.linalg.norm(t_mean) / np.linalg.norm(oracle)
        print(f"{holdout} {seed} | {slope(d_transfer):.2f} {slope(d_oracle):.2f} "
              f"{slope(d_recon):.2f} {np.median(seen):.2f} | {np.linalg.norm(t_mean):.2f} "
              f"{np.linalg.norm(oracle):.2f} {cos:.2f}", flush=True)  # fmt: skip
