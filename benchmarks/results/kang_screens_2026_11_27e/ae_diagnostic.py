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
from _fold_models import fold_models

from scotm import metrics
from scotm._arrays import dense64
from scotm.benchmark import Keys


def recon_slope(f, ctrl, stim) -> float:
    """The reconstruction slope of one type's response on its own top DEGs."""
    gi = ctrl.var_names.get_indexer(metrics.top_degs(ctrl, stim))
    real = dense64(stim.X).mean(0)[gi] - dense64(ctrl.X).mean(0)[gi]
    rec = f.decode(f.model.get_latent(stim)).mean(0) - f.decode(f.model.get_latent(ctrl)).mean(0)
    return float(rec[gi] @ real / (real @ real))


keys = Keys()
models = sys.argv[1] if len(sys.argv) > 1 else "/tmp/models"
print("fold seed | slope: transfer oracle recon seen | |shift| transfer oracle cos")
for f in fold_models(models, [int(s) for s in sys.argv[2:]] or [0]):
    gi, real = f.real_change()

    def slope(d: np.ndarray, real: np.ndarray = real, gi: np.ndarray = gi) -> float:
        return float(d[gi] @ real / (real @ real))

    types = f.fold.train.obs[keys.cell_type_key].astype(str).to_numpy()
    ctrl = f.fold.train.obs[keys.condition_key].astype(str).to_numpy() == keys.control
    zs = f.model.get_latent(f.fold.real)
    d_transfer = (f.decode(f.z + f.shift) - f.base).mean(0)
    oracle = zs.mean(0) - f.z.mean(0)
    d_oracle = (f.decode(f.z + oracle) - f.base).mean(0)
    d_recon = f.decode(zs).mean(0) - f.base.mean(0)
    seen = [
        recon_slope(f, f.fold.train[(types == t) & ctrl], f.fold.train[(types == t) & ~ctrl])
        for t in np.unique(types[~ctrl])  # not the held-out type, whose controls train too
    ]
    t_mean = f.shift.mean(0)
    cos = t_mean @ oracle / np.linalg.norm(t_mean) / np.linalg.norm(oracle)
    print(f"{f.holdout} {f.seed} | {slope(d_transfer):.2f} {slope(d_oracle):.2f} "
          f"{slope(d_recon):.2f} {np.median(seen):.2f} | {np.linalg.norm(t_mean):.2f} "
          f"{np.linalg.norm(oracle):.2f} {cos:.2f}", flush=True)  # fmt: skip
