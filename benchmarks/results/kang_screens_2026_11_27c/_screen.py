"""What the screens of this folder share: a saved fold model, scoring, and the command line.

Each screen defines ``variants(model, fold, z) -> {name: expression}`` (the held-out control
cells' predicted expression before ``zero_below``) and calls :func:`cli`. The fold models are
the ones ``transfer_ceiling.py --models /tmp/models`` saved (the default, trained as
``kang_seeds.py`` trains it). Only the scoring sees the held-out perturbed cells.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kang_seeds import KANG_FOLDS  # noqa: E402

COLS = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]


def decoded(model, fold, z: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The control cells decoded under latent ``shift`` as ``SCOTM.predict`` decodes them."""
    from scotm.model import conditional

    return conditional.predict_expression(model, fold.ctrl.X, z, shift, model.perturbations[0])[0]


def as_adata(X: np.ndarray, fold) -> ad.AnnData:
    return ad.AnnData(X.astype(np.float32), obs=fold.ctrl.obs, var=fold.ctrl.var)


def run(variants: Callable, holdout: str, seed: int, adata, models: Path) -> list[dict]:
    from scotm import metrics
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import SCOTM
    from scotm.model.predict import zero_below

    fold = holdout_split(adata, holdout, Keys())
    degs = metrics.top_degs(fold.ctrl, fold.real)
    model = SCOTM.load(models / f"{holdout}__{seed}".replace(" ", "_"))
    z = model.get_latent(fold.ctrl)
    rows = []
    for variant, (X, extra) in variants(model, fold, z).items():
        pred = as_adata(zero_below(X, model.settings.zero_below), fold)
        row = {"holdout": holdout, "seed": seed, "variant": variant, **extra}
        row.update(metrics.evaluate(fold.ctrl, fold.real, pred, degs))
        rows.append(row)
    return rows


def cli(variants: Callable) -> None:
    """``--seeds --holdout --models --out``: score every variant on every fold and seed."""
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
            new = run(variants, holdout, seed, adata, Path(args.models))
            scores = {r["variant"]: (round(r["r2_mean_deg"], 3), round(r["edist"], 3)) for r in new}
            print(holdout, seed, scores, flush=True)
            rows += new
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)
    print(pd.DataFrame(rows).groupby("variant")[COLS].mean().round(4).to_string())
