"""Few-shot Kang: SCOTM trained on 10%, 25% and 50% of the training cells, against mean_shift.

Issue 5 asks whether prior embeddings help most when data are scarce. For each fold (by default
CD14+ Monocytes, CD4+ T cells, B and NK cells), each fraction and each seed, the training cells
of the fold are subsampled uniformly at random (numpy seed = the seed); the model and mean_shift
are fit on that subsample and predict the held-out type's perturbed cells from *all* its control
cells, scored by the pinned protocol. Held-out perturbed cells never enter training.

    python benchmarks/kang_fewshot.py --out DIR                             # no priors
    python benchmarks/kang_fewshot.py --out DIR --cell-embedding-key X_genept --tag priors

``--cell-embedding-key`` (and ``--perturbation-embeddings FILE.csv``) pass prior embeddings to
the model; GenePT cell embeddings are computed with :func:`scotm.priors.genept` when the key is
``X_genept``. Rows are appended to ``DIR/metrics.csv`` (one per fold, fraction, seed and
method), so the two halves can run at different times; ``--summary`` prints mean and standard
deviation over seeds.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

import scotm
from scotm import metrics
from scotm._io import write_text
from scotm.baselines import MeanShift
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM

FOLDS = ("CD14+ Monocytes", "CD4+ T cells", "B", "NK cells")
FRACTIONS = (0.1, 0.25, 0.5)
SEEDS = (0, 1, 2)
COLS = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]


def summarise(table: pd.DataFrame) -> str:
    g = table.groupby(["holdout", "fraction", "method"], sort=False)[COLS]
    mean, sd = g.mean(), g.std()
    out = mean.round(3).astype(str) + " ± " + sd.round(3).astype(str)
    overall = table.groupby(["fraction", "method"], sort=False)[COLS].mean().round(3)
    return out.to_string() + "\n\nMean over folds and seeds:\n" + overall.to_string()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/kang_fewshot")
    p.add_argument("--folds", nargs="*", default=list(FOLDS))
    p.add_argument("--fractions", nargs="*", type=float, default=list(FRACTIONS))
    p.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    p.add_argument("--cell-embedding-key")
    p.add_argument("--perturbation-embeddings", help="CSV: name, then the vector")
    p.add_argument("--tag", default="scotm", help="method name for the model's rows")
    p.add_argument("--no-baseline", action="store_true", help="skip mean_shift")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--summary", action="store_true", help="only print the summary of --out")
    args = p.parse_args()
    out = Path(args.out) / "metrics.csv"
    if args.summary:
        print(summarise(pd.read_csv(out)))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    keys = Keys()
    adata = scotm.pp.prepare(scotm.datasets.kang())
    prior_kwargs = {}
    if args.cell_embedding_key:
        if args.cell_embedding_key == "X_genept" and "X_genept" not in adata.obsm:
            adata = scotm.priors.genept(adata)
        prior_kwargs["cell_embedding_key"] = args.cell_embedding_key
    if args.perturbation_embeddings:
        table = pd.read_csv(args.perturbation_embeddings, index_col=0)
        prior_kwargs["perturbation_embeddings"] = table
    rows = pd.read_csv(out).to_dict("records") if out.exists() else []
    for holdout in args.folds:
        fold = holdout_split(adata, holdout, keys)
        degs = metrics.top_degs(fold.ctrl, fold.real)
        for frac in args.fractions:
            for seed in args.seeds:
                rng = np.random.default_rng(seed)
                n = fold.train.n_obs
                take = np.sort(rng.choice(n, int(round(frac * n)), replace=False))
                train = fold.train[take].copy()
                methods = {} if args.no_baseline else {"mean_shift": None}
                methods[args.tag] = prior_kwargs
                for method, kwargs in methods.items():
                    t0 = time.perf_counter()
                    if method == "mean_shift":
                        model = MeanShift(**keys.as_kwargs()).fit(train)
                    else:
                        model = SCOTM(
                            train,
                            **keys.as_kwargs(),
                            **kwargs,
                            seed=seed,
                            num_threads=args.threads,
                        ).train(progress=False)
                    pred = model.predict(fold.ctrl)
                    scores = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
                    rows.append(
                        {
                            "holdout": holdout,
                            "fraction": frac,
                            "seed": seed,
                            "method": method,
                            "n_train": len(take),
                            **scores,
                            "seconds": time.perf_counter() - t0,
                        }
                    )
                    logging.info(
                        "%s %.2f seed %d %s: r2_mean_deg %.3f delta_r_deg %.3f",
                        holdout,
                        frac,
                        seed,
                        method,
                        scores["r2_mean_deg"],
                        scores["delta_r_deg"],
                    )
                    write_text(pd.DataFrame(rows).to_csv(index=False), out)
    print(summarise(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
