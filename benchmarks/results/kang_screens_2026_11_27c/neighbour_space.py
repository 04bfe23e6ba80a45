"""Ad-hoc screen: in which space should a held-out cell find the training cells it borrows from?

On the fold models saved by ``transfer_ceiling.py --models /tmp/models`` (the default), the
held-out control cells take the default's shift (k = 30, per-type weights; the reference's
OT shifts unchanged) with neighbours found by cosine similarity in:

- ``default``: the codes (as ``SCOTM.predict``);
- ``genept``: the GenePT cell prior (the fixed expression-weighted gene-description
  embedding the encoder reads);
- ``concat``: codes and prior, each scaled to unit norm per cell, side by side;
- ``mix``: the mean of the default's shift and the GenePT-neighbour shift.

    python benchmarks/results/kang_screens_2026_11_27c/neighbour_space.py --seeds 0 1 --out OUT
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


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)


def run(holdout, seed, adata, models):
    from scotm import metrics, transport
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import SCOTM, conditional
    from scotm.model.predict import transfer, zero_below

    keys = Keys()
    fold = holdout_split(adata, holdout, keys)
    degs = metrics.top_degs(fold.ctrl, fold.real)
    model = SCOTM.load(models / f"{holdout}__{seed}".replace(" ", "_"))
    name = model.perturbations[0]
    ref = model.references[name]
    z = model.get_latent(fold.ctrl)
    e_q = model.cell_embedding_of(fold.ctrl).astype(np.float64)
    e_r = model.cell_embedding_of(fold.train[list(ref.obs_names)]).astype(np.float64)
    codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
    w = transport.group_balance(ref.cell_types)
    k = model.settings.k
    default, _ = transfer(ref, z, model.settings)
    genept = transport.transfer_shifts(e_q, e_r, shifts, k, ref_weights=w)[0]
    cq, cr = np.hstack([unit(z), unit(e_q)]), np.hstack([unit(codes), unit(e_r)])
    concat = transport.transfer_shifts(cq, cr, shifts, k, ref_weights=w)[0]
    variants = {"default": default, "genept": genept, "concat": concat,
                "mix": 0.5 * (default + genept)}  # fmt: skip
    rows = []
    for variant, shift in variants.items():
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
