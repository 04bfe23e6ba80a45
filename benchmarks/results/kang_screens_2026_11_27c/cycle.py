"""Ad-hoc screen: correct the prediction until its own code reaches the shifted code.

The default decodes ``x + D(z + s) - D(z)``. If the encoder maps states it never saw (the
held-out type perturbed) part of the way back to states it knows, a prediction whose code
falls short of ``z + s`` has too small a response. Each correction step encodes the
prediction (``z1``), and adds ``D(z1 + e) - D(z1)`` for the remaining gap ``e = z + s - z1``
(scaled by ``step``). On the saved fold models (``_screen.py``); the shift is the default's.

    python benchmarks/results/kang_screens_2026_11_27c/cycle.py --seeds 0 --out OUT
"""

from __future__ import annotations

import numpy as np
from _screen import as_adata, cli, decoded


def variants(model, fold, z):
    from scotm.model.predict import decode, transfer

    shift, _ = transfer(model.references[model.perturbations[0]], z, model.settings)
    z_new = z + model.settings.shift_scale * shift
    X0 = decoded(model, fold, z, shift)
    out = {"default": X0}
    for label, step, n in (("cycle1", 1.0, 1), ("cycle2", 1.0, 2), ("half1", 0.5, 1)):
        X = X0
        for _ in range(n):
            z1 = model.get_latent(as_adata(X, fold))
            gap = step * (z_new - z1)
            X = np.clip(X + decode(model.module, z1 + gap) - decode(model.module, z1), 0.0, None)
        out[label] = X
    extra = {
        "code_gap": np.linalg.norm(z_new - model.get_latent(as_adata(X0, fold)), axis=1).mean(),
        "shift_norm": float(np.linalg.norm(shift, axis=1).mean()),
    }
    return {name: (X, extra) for name, X in out.items()}


if __name__ == "__main__":
    cli(variants)
