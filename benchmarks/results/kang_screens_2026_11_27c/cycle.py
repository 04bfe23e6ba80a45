"""Ad-hoc screen: correct the prediction until its own code reaches the shifted code.

The default decodes ``x + D(z + s) - D(z)``. If the encoder maps states it never saw (the
held-out type perturbed) part of the way back to states it knows, a prediction whose code
falls short of ``z + s`` has too small a response. Each correction step encodes the
prediction (``z1``), and adds ``D(z1 + e) - D(z1)`` for the remaining gap ``e = z + s - z1``
(scaled by ``step``). On the fold models saved by ``transfer_ceiling.py --models``; the
shift is the default's own.

    python benchmarks/results/kang_screens_2026_11_27c/cycle.py --seeds 0 --out OUT
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


def run(holdout, seed, adata, models):
    from scotm import metrics
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import SCOTM, conditional
    from scotm.model.predict import decode, transfer, zero_below

    keys = Keys()
    fold = holdout_split(adata, holdout, keys)
    degs = metrics.top_degs(fold.ctrl, fold.real)
    model = SCOTM.load(models / f"{holdout}__{seed}".replace(" ", "_"))
    name = model.perturbations[0]
    z = model.get_latent(fold.ctrl)
    shift, _ = transfer(model.references[name], z, model.settings)
    X0, z_new = conditional.predict_expression(model, fold.ctrl.X, z, shift, name)

    def as_adata(X):
        return ad.AnnData(X.astype(np.float32), obs=fold.ctrl.obs, var=fold.ctrl.var)

    variants = {"default": X0}
    for label, step, n in (("cycle1", 1.0, 1), ("cycle2", 1.0, 2), ("half1", 0.5, 1)):
        X = X0
        for _ in range(n):
            z1 = model.get_latent(as_adata(X))
            gap = step * (z_new - z1)
            X = np.clip(X + decode(model.module, z1 + gap) - decode(model.module, z1), 0.0, None)
        variants[label] = X
    z_gap = np.linalg.norm(z_new - model.get_latent(as_adata(X0)), axis=1).mean()
    rows = []
    for variant, X in variants.items():
        pred = as_adata(zero_below(X, model.settings.zero_below))
        row = {"holdout": holdout, "seed": seed, "variant": variant, "code_gap": z_gap}
        row["shift_norm"] = float(np.linalg.norm(shift, axis=1).mean())
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
                holdout,
                seed,
                {r["variant"]: (round(r["r2_mean_deg"], 3), round(r["edist"], 3)) for r in new},
                round(new[0]["code_gap"], 3),
                round(new[0]["shift_norm"], 3),
                flush=True,
            )
            rows += new
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)
    t = pd.DataFrame(rows)
    cols = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]
    print(t.groupby("variant")[cols].mean().round(4).to_string())


if __name__ == "__main__":
    main()
