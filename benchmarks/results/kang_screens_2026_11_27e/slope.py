"""The size of the mean change: decoding the mean shift (default) against averaging each
neighbour's decoded shift (`each`), as the slope of the predicted on the real mean change
over the fold's top-100 DEGs (1 = the right size). Same saved models as decode_each.py.
    python slope.py [MODELS]
"""

import sys

import numpy as np
from _fold_models import fold_models

folds = ("NK cells", "DC", "CD14+ Monocytes", "B")
for f in fold_models(sys.argv[1] if len(sys.argv) > 1 else "/tmp/models", (0, 1, 2), folds):
    gi, real = f.real_change()
    d_default = (f.decode(f.z + f.shift) - f.base).mean(0)
    d_each = np.zeros_like(d_default)
    for j in range(f.idx.shape[1]):
        d_each += (f.w[:, j, None] * (f.decode(f.z + f.shifts[f.idx[:, j]]) - f.base)).mean(0)
    default, each = (float(d[gi] @ real / (real @ real)) for d in (d_default, d_each))
    print(f"{f.holdout} {f.seed} slope default {default:.2f} each {each:.2f}", flush=True)
