"""Ad-hoc screen: the transferred shift against a learned regression of the OT shifts on the codes.

On the saved fold models (``_screen.py``), the held-out control cells are decoded under:

- ``default``: the model's own transferred shift (k = 30, per-type weights);
- ``ridge``: a linear ridge regression of the reference's OT shifts on their codes, each
  reference cell weighted so every training type counts the same (as the default's
  neighbours), evaluated at the held-out codes;
- ``mlp``: the same regression by a small MLP (128, 128), MSE, AdamW, 2,000 steps;
- ``mix_ridge`` / ``mix_mlp``: the mean of the default's shift and the regression's.

    python benchmarks/results/kang_screens_2026_11_27c/shift_regression.py --seeds 0 1 --out OUT
"""

from __future__ import annotations

import numpy as np
from _screen import cli, decoded


def mlp_fit(codes, shifts, weights, seed, steps=2000):
    import torch

    torch.manual_seed(seed)
    X = torch.tensor(codes, dtype=torch.float32)
    Y = torch.tensor(shifts, dtype=torch.float32)
    p = torch.tensor(weights / weights.sum(), dtype=torch.float64)
    d = X.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(d, 128),
        torch.nn.SiLU(),
        torch.nn.Linear(128, 128),
        torch.nn.SiLU(),
        torch.nn.Linear(128, Y.shape[1]),
    )
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.multinomial(p, 256, replacement=True, generator=g)
        loss = ((net(X[idx]) - Y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return lambda z: net(torch.tensor(z, dtype=torch.float32)).detach().numpy().astype(np.float64)


def variants(model, fold, z):
    from sklearn.linear_model import Ridge

    from scotm import transport
    from scotm.model.predict import transfer

    ref = model.references[model.perturbations[0]]
    codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
    w = transport.group_balance(ref.cell_types)
    default, _ = transfer(ref, z, model.settings)
    ridge = Ridge(alpha=1.0).fit(codes, shifts, sample_weight=w / w.mean()).predict(z)
    mlp = mlp_fit(codes, shifts, w, model.settings.seed)(z)
    shifts_by = {
        "default": default,
        "ridge": ridge,
        "mlp": mlp,
        "mix_ridge": 0.5 * (default + ridge),
        "mix_mlp": 0.5 * (default + mlp),
    }
    return {name: (decoded(model, fold, z, s), {}) for name, s in shifts_by.items()}


if __name__ == "__main__":
    cli(variants)
