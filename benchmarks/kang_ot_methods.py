"""Exact EMD against mini-batch OT on the 8 Kang folds: one trained network, two OT solvers.

Per fold one SCOTM is trained (``--seed``), then predicts the held-out type's control cells
twice: with the default transport (``ot_method="auto"``, which on Kang solves exact EMD for
every cell type) and, through ``SCOTM.variant(ot_method="minibatch")`` (the same network, the
same seed), with mini-batch OT (``scotm.transport.minibatch_shifts``, batch 1024 a side, the
transport default). Both are scored with the pinned protocol (``scotm.metrics.evaluate``).
Also written: the Pearson correlation of the two solvers' per-cell shifts of the training
control cells (every latent dimension, all cells) and of the transferred shifts of the
held-out cells (``X_scotm_shifted - X_scotm``, what a prediction uses).

``--batch-sizes 256,512`` adds mini-batch variants with other batch sizes (the same network;
``transport.minibatch_shifts`` called with that ``batch_size``), as ``scotm_minibatch_b256``
and so on; a cell type with at most that many cells a side is solved exactly.

``--exact-only`` skips the mini-batch variant (to measure the seed spread of another code
version with the same script).

    python benchmarks/kang_ot_methods.py --out benchmarks/results/kang_ot_methods [--holdout ...]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import scotm
from scotm import metrics, transport
from scotm.benchmark import Keys, cell_types, holdout_split


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@contextlib.contextmanager
def _minibatch_size(batch_size: int):
    """``transport.minibatch_shifts`` with another default ``batch_size``, within the block."""
    real = transport.minibatch_shifts
    transport.minibatch_shifts = functools.partial(real, batch_size=batch_size)
    try:
        yield
    finally:
        transport.minibatch_shifts = real


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/kang_ot_methods")
    p.add_argument("--holdout", nargs="*", help="cell types (default: all 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exact-only", action="store_true")
    p.add_argument("--batch-sizes", default="", help="extra mini-batch sizes, e.g. 256,512")
    p.add_argument("--max-epochs", type=int, help="cap the epochs (a smoke test only)")
    args = p.parse_args()
    from scotm.model import SCOTM

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    adata = scotm.pp.prepare(scotm.datasets.kang())
    keys = Keys()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"seed{args.seed}"
    rows, shifts = [], []
    for holdout in args.holdout or cell_types(adata, keys):
        fold = holdout_split(adata, holdout, keys)
        degs = metrics.top_degs(fold.ctrl, fold.real)
        t0, c0 = time.perf_counter(), time.process_time()
        model = SCOTM(fold.train, **keys.as_kwargs(), seed=args.seed).train(
            args.max_epochs, progress=False
        )
        fit = {"fit_s": time.perf_counter() - t0, "fit_cpu_s": time.process_time() - c0}
        fit["epochs"] = model.train_info["epochs"]
        fit["load1"] = os.getloadavg()[0]
        variants = {"scotm": model}
        if not args.exact_only:
            variants["scotm_minibatch"] = model.variant(ot_method="minibatch")
        sizes = [int(b) for b in args.batch_sizes.split(",") if b] if not args.exact_only else []
        for b in sizes:
            with _minibatch_size(b):
                variants[f"scotm_minibatch_b{b}"] = model.variant(ot_method="minibatch")
        preds = {}
        for name, m in variants.items():
            t1 = time.perf_counter()
            preds[name] = pred = m.predict(fold.ctrl)
            score = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
            row = {"holdout": holdout, "method": name, "seed": args.seed, **score, **fit}
            row["predict_s"] = time.perf_counter() - t1
            rows.append(row)
            logging.info("%s %s: %s", holdout, name, json.dumps(score))
        if not args.exact_only:
            pert = model.perturbations[0]
            a = model.references[pert]
            for name in variants:  # the same cells, in the same order
                assert np.array_equal(a.codes, variants[name].references[pert].codes)
            pe = preds["scotm"].obsm
            for name in variants:
                if name == "scotm":
                    continue
                b, pm = variants[name].references[pert], preds[name].obsm
                shifts.append(
                    {
                        "holdout": holdout,
                        "method": name,
                        "r_cell_shifts": _r(a.shifts, b.shifts),
                        "r_transferred_shifts": _r(
                            pe["X_scotm_shifted"] - pe["X_scotm"],
                            pm["X_scotm_shifted"] - pm["X_scotm"],
                        ),
                        "n_ref_cells": len(a.codes),
                    }
                )
                logging.info("%s shifts: %s", holdout, json.dumps(shifts[-1]))
        pd.DataFrame(rows).to_csv(out / f"metrics_{tag}.csv", index=False)
        if shifts:
            pd.DataFrame(shifts).to_csv(out / f"shifts_{tag}.csv", index=False)
    table = pd.DataFrame(rows)
    cols = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]
    print(table.groupby("method")[cols].mean().to_string())
    if shifts:
        print(pd.DataFrame(shifts).groupby("method").mean(numeric_only=True).to_string())


if __name__ == "__main__":
    main()
