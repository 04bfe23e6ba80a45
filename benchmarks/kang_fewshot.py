"""Few-shot Kang: SCOTM on subsampled training cells or cut held-out types, beside the baselines.

Two kinds of small data, each fold x level x seed one task (``--jobs N`` run N tasks at once,
each a process of ``--threads`` torch threads, default 1):

- fractions (``--fractions``; issue 5 used 0.1 0.25 0.5 on four folds, issue 11 asks for 0.05
  0.1 0.25 on all 8): the fold's training cells are subsampled (uniformly, numpy seed = the
  seed; ``--stratified``: exactly round(f * n) cells of every cell type x condition, at least
  one). The model, pca_ot and mean_shift are fit on the subsample and predict the held-out
  type's perturbed cells from its control cells: all of them (``--predict-from all``, issue 5)
  or only those the subsample kept (``--predict-from kept``: the small data set a user has).
  A fold whose kept held-out control cells are fewer than ``--min-ctrl`` is skipped (logged,
  and listed in ``skipped.csv``).
- cuts (``--cuts 10 20``): the training data are the whole fold; only the held-out type's
  control cells given to ``predict`` are cut to n (seed = the seed). With
  ``--cut-in-training`` the cut also applies to the held-out type's control cells in training.
  The uncut prediction (level ``all``) comes with every task: the full-data check.

The model's seed is the seed. Methods (``--methods``): ``scotm`` (the default settings, its
small-data blend included), and the same trained model as a variant (``_blend_record.BLENDS``):
``scotm_noblend`` (``blend="none"``), ``scotm_blend_pca`` / ``scotm_blend_mean``
(``blend="pca_ot"`` / ``"mean_shift"`` at any size) and ``scotm_blend_shared`` (pca_ot, inner
validation on the shared network), ``scotm_similarity`` (``neighbour_weights="similarity"``,
the default blend re-chosen for it); a chosen weight is recorded in column ``blend_weight``;
and ``pca_ot``, ``mean_shift``. Truth and DEGs: all the held-out type's
real perturbed cells, DEGs from all its control cells (scored by the pinned protocol with the
control cells the method was given). Held-out perturbed cells never enter training.

    python benchmarks/kang_fewshot.py --out DIR                             # issue 5, no priors
    python benchmarks/kang_fewshot.py --out DIR --folds all --fractions 0.05 0.1 0.25 \\
        --stratified --predict-from kept --methods scotm scotm_blend_pca scotm_blend_mean \\
        pca_ot mean_shift --jobs 8
    python benchmarks/kang_fewshot.py --out DIR --folds all --cuts 10 20 --methods ... --jobs 8
    python benchmarks/kang_fewshot.py --out DIR --summary

``--data FILE`` reads an already prepared (log-normalised, 2,000 HVG) Kang h5ad instead of the
cached download. Rows are appended to ``DIR/metrics.csv``; tasks already there are skipped, so
an interrupted run resumes. ``--cell-embedding-key`` / ``--perturbation-embeddings`` pass prior
embeddings to the model, ``--set KEY=VALUE`` any setting (``--tag`` names its rows).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _blend_record import BLENDS, record  # noqa: E402
from _settings import settings_or_exit  # noqa: E402

COLS = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]
FOLDS = ("CD14+ Monocytes", "CD4+ T cells", "B", "NK cells")
# smallest held-out type first: more folds finish on a busy machine
ALL_FOLDS = ("DC", "NK cells", "T", "CD8+ T cells", "CD16+ Monocytes", "B", "CD4+ T cells",
             "CD14+ Monocytes")  # fmt: skip
FRACTIONS = (0.1, 0.25, 0.5)
SEEDS = (0, 1, 2)
TASK = ["holdout", "fraction", "seed"]  # a task's identity; cut tasks have fraction = 1.0

_DATA = {}  # the prepared data, loaded once per worker process (spawned: a fork after OpenMP ran aborts)


def summarise(table: pd.DataFrame) -> str:
    table = table.copy()
    if "level" not in table:  # issue 5's rows: the level is the fraction
        table["level"] = table["fraction"]
    if "blend_weight" not in table:
        table["blend_weight"] = np.nan
    table["level"] = table["level"].astype(str)
    g = table.groupby(["level", "holdout", "method"], sort=False)[COLS]
    mean, sd = g.mean(), g.std()
    out = mean.round(3).astype(str) + " ± " + sd.round(3).astype(str)
    by_seed = table.groupby(["level", "method", "seed"], sort=False)[COLS].mean()
    overall = by_seed.groupby(["level", "method"], sort=False).agg(["mean", "std"]).round(3)
    folds = table.groupby(["level", "method"], sort=False)["holdout"].nunique()
    w = table.groupby(["level", "method"], sort=False)["blend_weight"].mean().round(2)
    head = (
        "Mean over folds and seeds (std = spread of the 3 per-seed means over folds):\n"
        + overall.to_string()
        + "\n\nFolds per level and method; mean blend weight:\n"
        + pd.concat([folds, w], axis=1).to_string()
    )
    return head + "\n\nPer fold, mean ± sd over seeds:\n" + out.to_string()


def _load(data: str | None, cell_embedding_key: str | None = None):
    """Kang prepared (once per process), with GenePT added when the model asks for it."""
    import scotm

    if "adata" not in _DATA:
        if data:
            import anndata as ad

            _DATA["adata"] = ad.read_h5ad(data)
        else:
            _DATA["adata"] = scotm.pp.prepare(scotm.datasets.kang())
        if cell_embedding_key == "X_genept" and "X_genept" not in _DATA["adata"].obsm:
            # in every worker process: spawned workers do not share the parent's data
            _DATA["adata"] = scotm.priors.genept(_DATA["adata"], copy=True)
    return _DATA["adata"]


def _subsample(train, frac: float, rng, stratified: bool, keys):
    n = train.n_obs
    if not stratified:
        return np.sort(rng.choice(n, int(round(frac * n)), replace=False))
    groups = keys.cell_types(train).astype(str) + "|" + keys.conditions(train).astype(str)
    take = []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        take.append(rng.choice(idx, max(1, int(round(frac * len(idx)))), replace=False))
    return np.sort(np.concatenate(take))


def run_task(task: dict, args: argparse.Namespace) -> tuple[list[dict], dict | None]:
    """One fold x level x seed: train once, predict with every method, score. Returns rows."""
    import torch

    from scotm import metrics
    from scotm.baselines import MeanShift, PcaOT
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import SCOTM, blend

    torch.set_num_threads(args.threads)

    keys = Keys()
    adata = _load(args.data, args.cell_embedding_key)
    holdout, frac, seed = task["holdout"], task["fraction"], task["seed"]
    fold = holdout_split(adata, holdout, keys)
    degs = metrics.top_degs(fold.ctrl, fold.real)
    rng = np.random.default_rng(seed)
    train = fold.train
    in_h = (keys.cell_types(train) == holdout) & (keys.conditions(train) == keys.control)
    inputs = {}
    if args.cuts:
        cut = {n: np.sort(rng.choice(fold.ctrl.n_obs, n, replace=False)) for n in args.cuts}
        if args.cut_in_training:  # one training per cut: the type only has n control cells
            (n,) = args.cuts
            names = fold.ctrl.obs_names[cut[n]]
            train = train[~in_h | train.obs_names.isin(names)].copy()
            inputs[str(n)] = fold.ctrl[cut[n]].copy()
        else:
            inputs["all"] = fold.ctrl
            inputs.update({str(n): fold.ctrl[c].copy() for n, c in cut.items()})
    else:
        take = _subsample(train, frac, rng, args.stratified, keys)
        train = train[take].copy()
        kept = fold.ctrl[fold.ctrl.obs_names.isin(train.obs_names)].copy()
        if args.predict_from == "kept":
            if kept.n_obs < args.min_ctrl:
                return [], {**task, "reason": f"{kept.n_obs} held-out control cells kept"}
            inputs[str(frac)] = kept
        else:
            inputs[str(frac)] = fold.ctrl
    rows: list[dict] = []
    model = None
    for method in args.methods:
        t0 = time.perf_counter()
        weight = np.nan
        if method in ("mean_shift", "pca_ot"):
            cls = MeanShift if method == "mean_shift" else PcaOT
            fitted = cls(**keys.as_kwargs()).fit(train)
        else:
            if model is None:
                model = SCOTM(
                    train,
                    **keys.as_kwargs(),
                    **args.prior_kwargs,
                    seed=seed,
                    num_threads=args.threads,
                ).train(progress=False)
            fitted = model.variant(**BLENDS[method]) if method in BLENDS else model
            if blend.kind_of(fitted) != "none":  # the weight (inner trainings) counts as fit
                weight = blend.choose_weight(fitted, "stimulated")
            if args.record and method == "scotm":
                tag = f"{holdout}_{frac}_{seed}".replace(" ", "_").replace("+", "p")
                record(Path(args.out) / "means" / f"{tag}.npz", model, "stimulated", inputs,
                       fold.real, degs)  # fmt: skip
        fit_s = time.perf_counter() - t0
        for level, ctrl in inputs.items():
            pred = fitted.predict(ctrl)
            scores = metrics.evaluate(ctrl, fold.real, pred, degs)
            name = args.tag if method == "scotm" else method
            rows.append(
                {
                    **task,
                    "level": level,
                    "method": name,
                    "n_train": train.n_obs,
                    "n_ctrl": ctrl.n_obs,
                    "blend_weight": weight,
                    **scores,
                    "seconds": fit_s,
                }
            )
    return rows, None


def _worker(task: dict, args: argparse.Namespace):
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    return task, *run_task(task, args)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/kang_fewshot")
    p.add_argument("--data", help="a prepared Kang h5ad (default: the cached download)")
    p.add_argument("--folds", nargs="*", default=list(FOLDS), help="names, or 'all'")
    p.add_argument("--fractions", nargs="*", type=float, default=list(FRACTIONS))
    p.add_argument("--cuts", nargs="*", type=int, help="held-out control cells to keep")
    p.add_argument("--cut-in-training", action="store_true")
    p.add_argument("--stratified", action="store_true")
    p.add_argument("--predict-from", choices=("all", "kept"), default="all")
    p.add_argument("--min-ctrl", type=int, default=10)
    p.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    p.add_argument("--methods", nargs="*", default=["mean_shift", "scotm"])
    p.add_argument("--cell-embedding-key")
    p.add_argument("--perturbation-embeddings", help="CSV: name, then the vector")
    p.add_argument("--tag", default="scotm", help="method name for the model's rows")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting (repeatable), e.g. --set output_activation=softplus; name the "
        "rows with --tag and use another --out (tasks are keyed by fold, level and seed)",
    )
    p.add_argument("--no-baseline", action="store_true", help="skip mean_shift")
    p.add_argument("--record", action="store_true", help="keep the means (blend_rules.py)")
    p.add_argument("--jobs", type=int, default=1, help="tasks at once (--threads each)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per task (default 1; --jobs 1 --threads 2 times a fold as a user "
        "of a 2-core machine runs it)",
    )
    p.add_argument("--summary", action="store_true", help="only print the summary of --out")
    args = p.parse_args()
    out = Path(args.out) / "metrics.csv"
    if args.summary:
        print(summarise(pd.read_csv(out)))
        return
    from scotm._io import write_text

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.folds == ["all"]:
        args.folds = list(ALL_FOLDS)
    if args.no_baseline:
        args.methods = [m for m in args.methods if m != "mean_shift"]
    if args.cut_in_training and (not args.cuts or len(args.cuts) != 1):
        p.error("--cut-in-training takes one --cuts value (one training per cut)")
    args.prior_kwargs = settings_or_exit(p, args.set)
    _load(args.data, args.cell_embedding_key)  # fails early, and fills the embedding cache
    if args.cell_embedding_key:
        args.prior_kwargs["cell_embedding_key"] = args.cell_embedding_key
    if args.perturbation_embeddings:
        table = pd.read_csv(args.perturbation_embeddings, index_col=0)
        args.prior_kwargs["perturbation_embeddings"] = table
    levels = [1.0] if args.cuts else args.fractions
    rows = pd.read_csv(out).to_dict("records") if out.exists() else []
    done = {(r["holdout"], float(r["fraction"]), int(r["seed"])) for r in rows}
    tasks = [
        {"holdout": h, "fraction": float(f), "seed": s}
        for f in levels
        for s in args.seeds
        for h in args.folds
        if (h, float(f), s) not in done
    ]
    skipped = []
    logging.info("%d tasks, %d at once", len(tasks), args.jobs)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_worker, t, args) for t in tasks]
        for fut in as_completed(futures):
            task, new, skip = fut.result()
            if skip:
                skipped.append(skip)
                logging.info("skipped %s", skip)
                write_text(pd.DataFrame(skipped).to_csv(index=False), out.with_name("skipped.csv"))
                continue
            rows.extend(new)
            for r in new:
                logging.info(
                    "%s %s seed %d %s: r2_mean_deg %.3f delta_r_deg %.3f (w %.2f)",
                    r["holdout"], r["level"], r["seed"], r["method"],
                    r["r2_mean_deg"], r["delta_r_deg"], r["blend_weight"],
                )  # fmt: skip
            write_text(pd.DataFrame(rows).to_csv(index=False), out)
    if rows:
        print(summarise(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
