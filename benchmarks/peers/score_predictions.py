"""Score a peer's predictions with scotm's one pinned protocol (EVALUATION.md).

Run from scotm's venv. For every ``<pred-dir>/<cell type>.h5ad`` (file names as
``scotm.benchmark.safe_name`` makes them), rebuilds that fold with ``scotm.benchmark.holdout_split``
on ``scotm.pp.prepare(scotm.datasets.kang())`` and scores the file with
``scotm.metrics.evaluate`` against the real held-out perturbed cells. A ``<cell type>.json``
beside it (as ``scpram/run_scpram.py`` writes) adds that fold's timings to the row.

Writes ``--out`` (CSV, one row per fold and method) and, beside it, ``timings_<method>.json``
(every fold's timing record). ``--ours`` also runs scotm methods on the same folds, through
``scotm.benchmark.run_benchmark``, and adds their rows.

    python benchmarks/peers/score_predictions.py --pred-dir OUT/predictions/scpram \\
        --out benchmarks/peers/results/metrics_scpram.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import anndata as ad
import pandas as pd

import scotm
from scotm import metrics
from scotm.benchmark import Keys, cell_types, holdout_split, run_benchmark, safe_name
from scotm.pp import prepare

TIMING_COLS = ("fit_s", "predict_s", "wall_s", "fit_cpu_s", "predict_cpu_s", "cpu_s", "epochs")


def score_dir(
    adata: ad.AnnData, pred_dir: Path, method: str, holdouts: list[str]
) -> tuple[list[dict], dict]:
    rows, timings = [], {}
    for holdout in holdouts:
        path = pred_dir / f"{safe_name(holdout)}.h5ad"
        fold = holdout_split(adata, holdout)
        pred = ad.read_h5ad(path)
        if set(pred.var_names) == set(fold.ctrl.var_names):
            pred = pred[:, fold.ctrl.var_names].copy()
        degs = metrics.top_degs(fold.ctrl, fold.real)
        scores = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
        row = {"holdout": holdout, "method": method, **scores, "n_pred": int(pred.n_obs)}
        timing_path = path.with_suffix(".json")
        if timing_path.exists():
            timing = json.loads(timing_path.read_text())
            timings[holdout] = timing
            row.update({k: timing[k] for k in TIMING_COLS if k in timing})
        rows.append(row)
        print(
            f"{holdout}: " + ", ".join(f"{k}={scores[k]:.3f}" for k in metrics.METRICS),
            flush=True,
        )
    return rows, timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("holdouts", nargs="*", help="folds to score (default: every file found)")
    parser.add_argument("--pred-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="CSV to write")
    parser.add_argument("--method", default=None, help="method name (default: pred-dir's name)")
    parser.add_argument(
        "--ours", nargs="*", default=[], help="scotm methods to run on the same folds too"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    method = args.method or args.pred_dir.name

    adata = prepare(scotm.datasets.kang())
    known = cell_types(adata, Keys())
    if args.holdouts:
        holdouts = list(args.holdouts)
        missing = [h for h in holdouts if not (args.pred_dir / f"{safe_name(h)}.h5ad").exists()]
        if missing:
            sys.exit(f"no prediction for {missing} in {args.pred_dir}")
    else:
        holdouts = [h for h in known if (args.pred_dir / f"{safe_name(h)}.h5ad").exists()]
        skipped = [h for h in known if h not in holdouts]
        if skipped:
            print(f"no prediction for {skipped}: not scored", file=sys.stderr)
    if not holdouts:
        sys.exit(f"no predictions in {args.pred_dir}")

    rows, timings = score_dir(adata, args.pred_dir, method, holdouts)
    table = pd.DataFrame(rows)
    if args.ours:
        table = pd.concat([table, run_benchmark(adata, args.ours, holdouts)], ignore_index=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    timings_path = args.out.with_name(f"timings_{method}.json")
    timings_path.write_text(json.dumps(timings, indent=1) + "\n")

    cols = [c for c in (*metrics.METRICS, "wall_s", "cpu_s") if c in table]
    mean = table.groupby("method", sort=False)[cols].mean()
    mean.index = pd.MultiIndex.from_product([["MEAN"], mean.index])
    full = pd.concat([table.set_index(["holdout", "method"])[cols], mean])
    print(full.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {args.out} and {timings_path}")


if __name__ == "__main__":
    main()
