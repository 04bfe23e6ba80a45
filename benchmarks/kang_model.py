"""SCOTM on Kang, every fold of EVALUATION.md, with its ablations and the baselines.

One SCOTM is trained per fold; the transport ablations (no OT, single shift, Sinkhorn,
coupling across cell types, full decoding) reuse its network via ``SCOTM.variant`` and so
isolate the transport step. The KL ablation trains a network of its own.

    python benchmarks/kang_model.py --out benchmarks/results/kang_model [--holdout NAME ...]

Writes ``metrics.csv`` (one row per fold and method, with train/predict seconds) and
``summary.md`` (means and per-fold tables) to ``--out``; peak memory and wall time are
printed at the end.
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
from pathlib import Path

import pandas as pd

import scotm
from scotm import metrics
from scotm._io import write_text
from scotm.baselines import MeanShift, PcaOT
from scotm.benchmark import Keys, cell_types, holdout_split, summary_text
from scotm.model import SCOTM

VARIANTS = {
    "scotm_meanshift": {"shift": "mean"},
    "scotm_single": {"per_cell": False},
    "scotm_sinkhorn": {"ot_method": "sinkhorn"},
    "scotm_across": {"couple_within_cell_type": False},
    "scotm_fulldecode": {"decode": "full"},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/kang_model")
    p.add_argument("--holdout", nargs="*", help="cell types (default: all 8)")
    p.add_argument("--no-ablations", action="store_true")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads for training (default: torch's)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t_start = time.perf_counter()
    adata = scotm.pp.prepare(scotm.datasets.kang())
    t_prep = time.perf_counter() - t_start
    keys = Keys()
    out = Path(args.out)
    rows = []

    def score(fold, degs, method, pred, fit_s, predict_s):
        m = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
        rows.append(
            {"holdout": fold.holdout, "method": method, **m, "fit_s": fit_s, "predict_s": predict_s}
        )
        logging.info(
            "%s %s: %s", fold.holdout, method, ", ".join(f"{k}={v:.3f}" for k, v in m.items())
        )

    for holdout in args.holdout or cell_types(adata, keys):
        fold = holdout_split(adata, holdout, keys)
        degs = metrics.top_degs(fold.ctrl, fold.real)
        t0 = time.perf_counter()
        model = SCOTM(
            fold.train, **keys.as_kwargs(), seed=args.seed, num_threads=args.threads
        ).train(progress=False)
        t1 = time.perf_counter()
        pred = model.predict(fold.ctrl)
        t2 = time.perf_counter()
        score(fold, degs, "scotm", pred, t1 - t0, t2 - t1)
        if not args.no_ablations:
            for name, overrides in VARIANTS.items():
                t0 = time.perf_counter()
                v = model.variant(**overrides)
                pv = v.predict(fold.ctrl)
                score(fold, degs, name, pv, 0.0, time.perf_counter() - t0)
            t0 = time.perf_counter()
            kl = SCOTM(
                fold.train, **keys.as_kwargs(), seed=args.seed, prior="kl", num_threads=args.threads
            ).train(progress=False)
            t1 = time.perf_counter()
            score(fold, degs, "scotm_kl", kl.predict(fold.ctrl), t1 - t0, time.perf_counter() - t1)
        if not args.no_baselines:
            for name, cls in (("mean_shift", MeanShift), ("pca_ot", PcaOT)):
                t0 = time.perf_counter()
                b = cls(**keys.as_kwargs()).fit(fold.train)
                t1 = time.perf_counter()
                score(fold, degs, name, b.predict(fold.ctrl), t1 - t0, time.perf_counter() - t1)
        table = pd.DataFrame(rows)
        write_text(table.to_csv(index=False), out / "metrics.csv")

    table = pd.DataFrame(rows)
    wall = time.perf_counter() - t_start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    fit = table[table.method == "scotm"][["fit_s", "predict_s"]].sum(1)
    header = [
        f"wall {wall:.0f} s (data preparation {t_prep:.0f} s), peak RSS {peak_gb:.2f} GB",
        f"scotm train+predict per fold: median {fit.median():.1f} s, max {fit.max():.1f} s",
    ]
    text = summary_text(table, header)
    write_text(text + "\n", out / "summary.txt")
    print(text)


if __name__ == "__main__":
    main()
