"""McFaline-Figueroa cell lines, one knock-down at a time: a small-data, second-dataset check.

Issue 11 (items 4 and 5). The ``mcfaline23`` cells of PerturBench's development file (CRISPRi
of 9 kinase genes in the glioblastoma lines A172, T98G and U87MG; 46-100 cells per line and
target, 100 controls per line). Each task is one (held-out line, knock-down, seed): the
training data are the control cells of all three lines and that knock-down's cells in the two
other lines, a single-perturbation problem; the held-out line's knock-down cells are
predicted from its control cells and scored by the pinned protocol (scotm.metrics.evaluate).

Methods: ``scotm`` (default settings, seed = the seed), the same trained model as a variant
(``_blend_record.BLENDS``: ``scotm_noblend``, ``scotm_blend_pca``, ``scotm_blend_mean``,
``scotm_blend_shared``, ``scotm_similarity``: neighbours weighted by similarity alone; a
chosen weight goes to column ``blend_weight``),
``pca_ot`` and ``mean_shift`` (deterministic; run with every seed all the same).
``--set KEY=VALUE`` (repeatable) changes a setting of the ``scotm`` model and its variants
(a screen; use another ``--out``). On request
(``--methods``), each its own model, same seed: ``scotm_softplus``
(``output_activation="softplus"``, ``zero_below=0.1``), ``scotm_noprior`` (the default without
its GenePT cell prior), ``scotm_relu`` (with a ReLU output, nothing zeroed) and ``scotm_genept`` (the prior read from ``obsm["X_genept"]``,
computed once for all cells by ``scotm.priors.genept``: the same function as the default's).

    python benchmarks/small_mcfaline.py --out DIR --seeds 0 1 2 --jobs 8
    python benchmarks/small_mcfaline.py --out DIR --summary

``--data`` (default ../shared/data/perturbench_devel.h5ad beside the checkout). Rows go to
``DIR/metrics.csv``; tasks already there are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import logging
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

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "perturbench_devel.h5ad"
CTRL = "control"
COLS = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]
METHODS = ["scotm", "scotm_blend_pca", "scotm_blend_mean", "pca_ot", "mean_shift"]
#: other trained configurations (not run by default): their own model, same seed; a name
#: instead of settings is that entry of scotm.model.ABLATIONS, looked up in the worker
TRAINED: dict[str, dict | str] = {
    "scotm_softplus": {"output_activation": "softplus", "zero_below": 0.1},
    "scotm_noprior": "scotm_noprior",
    "scotm_relu": "scotm_relu",
    "scotm_genept": {"cell_embedding_key": "X_genept"},
}
_DATA = {}


def _load(path: str, genept: bool = False):
    import anndata as ad

    if "adata" not in _DATA:
        a = ad.read_h5ad(path)
        a = a[a.obs["dataset"] == "mcfaline23"].copy()
        if genept and "X_genept" not in a.obsm:
            import scotm

            a = scotm.priors.genept(a, copy=True)
        _DATA["adata"] = a
    return _DATA["adata"]


def run_task(task: dict, args: argparse.Namespace) -> list[dict]:
    """Train on one knock-down (two lines), predict the third line, score every method."""
    import torch

    from scotm import metrics
    from scotm.baselines import MeanShift, PcaOT
    from scotm.model import ABLATIONS, SCOTM, blend

    torch.set_num_threads(1)

    adata = _load(args.data, "scotm_genept" in args.methods)
    held, target, seed = task["holdout"], task["perturbation"], task["seed"]
    cond = adata.obs["condition"].astype(str).to_numpy()
    line = adata.obs["cell_type"].astype(str).to_numpy()
    train = adata[((cond == CTRL) | (cond == target)) & ~((line == held) & (cond == target))]
    train = train.copy()
    ctrl = adata[(line == held) & (cond == CTRL)].copy()
    real = adata[(line == held) & (cond == target)].copy()
    degs = metrics.top_degs(ctrl, real)
    rows, model = [], None
    for method in args.methods:
        t0 = time.perf_counter()
        weight = np.nan
        if method in ("mean_shift", "pca_ot"):
            cls = MeanShift if method == "mean_shift" else PcaOT
            fitted = cls(perturbed=target).fit(train)
        elif method in TRAINED:
            settings = TRAINED[method]
            settings = ABLATIONS[settings] if isinstance(settings, str) else settings
            fitted = SCOTM(train, perturbed=target, seed=seed, num_threads=1, **settings)
            fitted.train(progress=False)
        else:
            if model is None:
                model = SCOTM(train, perturbed=target, seed=seed, num_threads=1, **args.settings)
                model.train(progress=False)
            fitted = model
            if args.record and method == "scotm":
                tag = f"{held}_{target}_{seed}"
                record(Path(args.out) / "means" / f"{tag}.npz", model, target, {"all": ctrl},
                       real, degs)  # fmt: skip
            fitted = model.variant(**BLENDS[method]) if method in BLENDS else model
            if blend.kind_of(fitted) != "none":
                weight = blend.choose_weight(fitted, target)
        pred = fitted.predict(ctrl)
        scores = metrics.evaluate(ctrl, real, pred, degs)
        rows.append(
            {
                **task,
                "method": method,
                "n_train": train.n_obs,
                "n_ctrl": ctrl.n_obs,
                "n_real": real.n_obs,
                "blend_weight": weight,
                **scores,
                "seconds": time.perf_counter() - t0,
            }
        )
    return rows


def _worker(task: dict, args: argparse.Namespace):
    return task, run_task(task, args)


def summarise(table: pd.DataFrame) -> str:
    by_seed = table.groupby(["method", "seed"], sort=False)[COLS].mean()
    overall = by_seed.groupby("method", sort=False).agg(["mean", "std"]).round(3)
    per_line = table.groupby(["holdout", "method"], sort=False)[COLS[:2]].mean().round(3)
    w = table.groupby("method", sort=False)["blend_weight"].describe()[["mean", "min", "max"]]
    wins = []
    base = table[table["method"] == "scotm"].set_index(["holdout", "perturbation", "seed"])
    for m in table["method"].unique():
        if m == "scotm":
            continue
        other = table[table["method"] == m].set_index(["holdout", "perturbation", "seed"])
        d = (other["r2_mean_deg"] - base["r2_mean_deg"]).dropna()
        wins.append({"method": m, "beats scotm (r2_mean_deg)": f"{(d > 0).sum()}/{len(d)}"})
    return (
        "Mean over lines, knock-downs and seeds (std = spread of the per-seed means):\n"
        + overall.to_string()
        + "\n\nPer held-out line (mean over knock-downs and seeds):\n"
        + per_line.to_string()
        + "\n\nBlend weights:\n"
        + w.round(2).to_string()
        + "\n\n"
        + pd.DataFrame(wins).to_string(index=False)
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/small_mcfaline")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--methods", nargs="*", default=METHODS)
    p.add_argument("--lines", nargs="*", help="held-out lines (default: all three)")
    p.add_argument("--targets", nargs="*", help="knock-downs (default: all nine)")
    p.add_argument("--record", action="store_true", help="keep the means (blend_rules.py)")
    p.add_argument("--jobs", type=int, default=1, help="tasks at once (one thread each)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the scotm model (repeatable), e.g. --set beta=0.5")  # fmt: skip
    p.add_argument("--summary", action="store_true", help="only print the summary of --out")
    args = p.parse_args()
    args.settings = settings_or_exit(p, args.set)
    unknown = set(args.methods) - set(METHODS) - set(TRAINED) - set(BLENDS)
    if unknown:
        known = sorted({*METHODS, *TRAINED, *BLENDS})
        p.error(f"unknown methods {sorted(unknown)}; choose from {known}")
    out = Path(args.out) / "metrics.csv"
    if args.summary:
        print(summarise(pd.read_csv(out)))
        return
    from scotm._io import write_text

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    adata = _load(args.data, "scotm_genept" in args.methods)  # fills the embedding cache
    cond = adata.obs["condition"].astype(str)
    lines = args.lines or sorted(adata.obs["cell_type"].astype(str).unique())
    targets = args.targets or sorted(set(cond) - {CTRL})
    rows = pd.read_csv(out).to_dict("records") if out.exists() else []
    done = {(r["holdout"], r["perturbation"], int(r["seed"])) for r in rows}
    tasks = [
        {"holdout": h, "perturbation": t, "seed": s}
        for s in args.seeds
        for t in targets
        for h in lines
        if (h, t, s) not in done
    ]
    logging.info("%d tasks, %d at once", len(tasks), args.jobs)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_worker, t, args) for t in tasks]
        for fut in as_completed(futures):
            task, new = fut.result()
            rows.extend(new)
            logging.info(
                "%s %s seed %d: %s", task["holdout"], task["perturbation"], task["seed"],
                ", ".join(f"{r['method']} {r['r2_mean_deg']:.3f}" for r in new),
            )  # fmt: skip
            write_text(pd.DataFrame(rows).to_csv(index=False), out)
    if rows:
        print(summarise(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
