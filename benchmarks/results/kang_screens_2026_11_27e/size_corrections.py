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
from _fold_models import fold_models
from sklearn.linear_model import Ridge

from scotm import transport
from scotm._arrays import dense64

models = sys.argv[1] if len(sys.argv) > 1 else "/tmp/models"
for f in fold_models(models, [int(s) for s in sys.argv[2:]] or [0]):
    gi, real = f.real_change()

    def slope(d: np.ndarray, real: np.ndarray = real, gi: np.ndarray = gi) -> float:
        return float(d[gi] @ real / (real @ real))

    Xc = dense64(f.fold.ctrl.X)
    d = (f.decode(f.z + f.shift) - f.base).mean(0)
    u = d / np.linalg.norm(d)
    a, b = (Xc - Xc.mean(0)) @ u, (f.base - f.base.mean(0)) @ u
    c_ctrl = float(a @ b / (b @ b))
    d_ref = f.decode(f.codes + f.shifts) - f.decode(f.codes)
    balance = transport.group_balance(f.model.references["stimulated"].cell_types)
    lin = Ridge(alpha=1.0).fit(f.shifts, d_ref, sample_weight=balance)
    d_lin = lin.predict(f.shift).mean(0)
    c_lin = float(d @ d_lin / (d @ d))  # the linear change's size along the default's
    print(f"{f.holdout} {f.seed}: default slope {slope(d):.2f}, need {1 / slope(d):.2f} | "
          f"c_ctrl {c_ctrl:.2f} | linear slope {slope(d_lin):.2f}, as a size for the "
          f"default's change {c_lin:.2f} -> slope {slope(c_lin * d):.2f}", flush=True)  # fmt: skip
