"""Ad-hoc screen: the transferred shift against a learned regression of the OT shifts on the codes.

For each fold model saved by ``transfer_ceiling.py --models /tmp/models`` (the default,
trained as ``kang_seeds.py`` trains it), the held-out control cells are decoded (as
``SCOTM.predict`` does) under:

- ``default``: the model's own transferred shift (k = 30, per-type weights);
- ``ridge``: a linear ridge regression of the reference's OT shifts on their codes, each
  reference cell weighted so every training type counts the same (as the default's
  neighbours), evaluated at the held-out codes;
- ``mlp``: the same regression by a small MLP (128, 128), MSE, AdamW, 2,000 steps;
- ``mix_ridge`` / ``mix_mlp``: the mean of the default's shift and the regression's.

Nothing here sees the held-out perturbed cells except the scoring.

    python benchmarks/results/kang_screens_2026_11_27c/shift_regression.py --seeds 0 1 --out OUT
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kang_seeds import KANG_FOLDS  # noqa: E402


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


def shifts_of(model, z, seed):
    from sklearn.linear_model import Ridge

    from scotm import transport
    from scotm.model.predict import transfer

    ref = model.references[model.perturbations[0]]
    codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
    w = transport.group_balance(ref.cell_types)
    default, _ = transfer(ref, z, model.settings)
    ridge = Ridge(alpha=1.0).fit(codes, shifts, sample_weight=w / w.mean()).predict(z)
    mlp = mlp_fit(codes, shifts, w, seed)(z)
    return {
        "default": default,
        "ridge": ridge,
        "mlp": mlp,
        "mix_ridge": 0.5 * (default + ridge),
        "mix_mlp": 0.5 * (default + mlp),
    }


def run(holdout, seed, adata, models):
    from scotm import metrics
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import SCOTM, conditional
    from scotm.model.predict import zero_below

    keys = Keys()
    fold = holdout_split(adata, holdout, keys)
    degs = metrics.top_degs(fold.ctrl, fold.real)
    model = SCOTM.load(models / f"{holdout}__{seed}".replace(" ", "_"))
    name = model.perturbations[0]
    z = model.get_latent(fold.ctrl)
    rows = []
    for variant, shift in shifts_of(model, z, seed).items():
        X, _ = conditional.predict_expression(model, fold.ctrl.X, z, shift, name)
        X = zero_below(X, model.settings.zero_below)
        pred = ad.AnnData(X.astype(np.float32), obs=fold.ctrl.obs, var=fold.ctrl.var)
        row = {"holdout": holdout, "seed": seed, "variant": variant}
        row.update(metrics.evaluate(fold.ctrl, fold.real, pred, degs))
        rows.append(row)
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--holdout", nargs="*", default=list(KANG_FOLDS))
    p.add_argument("--models", default="/tmp/models")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    import scotm

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    adata = scotm.pp.prepare(scotm.datasets.kang())
    rows = []
    for seed in args.seeds:
        for holdout in args.holdout:
            new = run(holdout, seed, adata, Path(args.models))
            print(
                holdout, seed, {r["variant"]: round(r["r2_mean_deg"], 3) for r in new}, flush=True
            )
            rows += new
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)
    t = pd.DataFrame(rows)
    cols = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]
    print(t.groupby("variant")[cols].mean().round(4).to_string())


if __name__ == "__main__":
    main()
