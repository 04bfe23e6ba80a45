"""Kang, every leave-one-cell-type-out fold: methods x folds x seeds, folds in parallel.

Each job trains one model configuration on one fold with one seed (one torch thread, in its
own process) and scores it and its post-training variants with the pinned protocol
(:func:`scotm.metrics.evaluate`). ``--jobs N`` runs N jobs at once; on a bigger machine use
one job per core.

    python benchmarks/kang_seeds.py --methods scotm mean_shift pca_ot --seeds 0 1 2 \\
        --jobs 2 --out benchmarks/results/kang_seeds

A screen of other settings needs no entry in CONFIGS: ``--tag NAME --set KEY=VALUE ...`` adds
one configuration under that method name (alone, unless ``--methods`` names others).

Writes ``--out``/``metrics.csv`` (one row per fold, method and seed, with fit/predict
seconds and the 1-minute load average at the job's start and end) after every job, and
``summary.md`` (8-fold means with the seed spread, and per-fold mean/min/max) at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

#: Trained configurations: settings for ``SCOTM`` and named post-training variants
#: (``SCOTM.variant`` overrides) scored beside it; "" is the configuration itself.
#: Settings given as a name are scotm.model's own (FAITHFUL, or that entry of ABLATIONS), looked
#: up in the worker: importing scotm.model here would load torch in every spawned worker before
#: _init sets its one thread.
CONFIGS: dict[str, tuple[dict[str, Any] | str, dict[str, dict[str, Any]]]] = {
    "scotm": ({}, {"": {}}),  # today's default SCOTM(), whatever it is
    # the published method (MMD AE + OT), and the default without its cell prior
    "scotm_faithful": ("FAITHFUL", {"": {}}),
    "scotm_relu": ("scotm_relu", {"": {}}),
    "scotm_noprior": ("scotm_noprior", {"": {}}),
    # the GenePT cell prior into the encoder (scotm.priors.genept: a fixed function of each
    # cell's own expression, computed once for all cells; nothing fitted, nothing leaks)
    "scotm_genept": ({"cell_embedding_key": "X_genept"}, {"": {}}),
}
_SCALES = {"": {}, "_s0": {"shift_scale": 0.0}, "_s05": {"shift_scale": 0.5}}
for _name, _settings in {
    "cvae": {},  # trVAE's choice: MMD on the decoder's first layer, condition on it
    "cvae_lat": {"cond_mmd_on": "latent"},
    "cvae_all": {"cond_layers": "all"},
    "cvae_all_lat": {"cond_layers": "all", "cond_mmd_on": "latent"},
    "cvae_nommd": {"cond_mmd": 0.0},
    "cvae_mmd10": {"cond_mmd": 10.0},
}.items():
    CONFIGS[_name] = ({"network": "cvae", **_settings}, _SCALES)
# the default with an exponential moving average of its weights (one training, about the
# last 1 / (1 - decay) optimiser steps averaged; a Kang fold trains about 1,500 steps)
CONFIGS["scotm_ema"] = ({"ema_decay": 0.995}, {"": {}})
CONFIGS["scotm_ema99"] = ({"ema_decay": 0.99}, {"": {}})
CONFIGS["scotm_ema998"] = ({"ema_decay": 0.998}, {"": {}})
# a softplus decoder output (no exact zeros: no gene turned off for a whole cell type),
# scored raw and with predicted values below 0.05 / 0.1 set to 0 (post-training, free)
CONFIGS["scotm_softplus"] = (
    {"output_activation": "softplus"},
    {"": {"zero_below": 0.0}, "_z05": {"zero_below": 0.05}, "_z1": {"zero_below": 0.1}},
)
# the learning rate decayed along a cosine to 0 over the planned steps (no extra cost)
CONFIGS["scotm_cosine"] = ({"lr_schedule": "cosine"}, {"": {}})
# the default with its shifts transferred from fewer or more neighbours (post-training, free)
CONFIGS["scotm_k"] = ({}, {"": {}, "_k10": {"k": 10}, "_k100": {"k": 100}})
# the default, and its neighbours weighted by similarity alone (as before neighbour_weights)
CONFIGS["scotm_nw"] = ({}, {"": {}, "_similarity": {"neighbour_weights": "similarity"}})
# the default and its post-training alternatives, scored from one training (free): the
# published similarity weights, and fewer or more neighbours
CONFIGS["scotm_post"] = (
    {},
    {
        "": {},
        "_similarity": {"neighbour_weights": "similarity"},
        "_k10": {"k": 10},
        "_k100": {"k": 100},
    },
)
BASELINES = ("mean_shift", "pca_ot")
#: Kang's 8 held-out cell types, the weakest first (other Kang scripts import this list)
KANG_FOLDS = (
    "CD14+ Monocytes", "DC", "CD16+ Monocytes", "NK cells", "B",
    "CD4+ T cells", "CD8+ T cells", "T",
)  # fmt: skip
_DATA: dict[str, Any] = {}


def pred_file(pred: str | Path, method: str, holdout: str, seed: int) -> Path:
    """Where ``--ensemble`` keeps one prediction: ``pred/METHOD__FOLD__SEED.npy``, spaces as
    underscores (the scripts that read these files find them here too).

    >>> pred_file("OUT/pred", "scotm", "NK cells", 0).name
    'scotm__NK_cells__0.npy'
    """
    return Path(pred) / f"{method}__{holdout}__{seed}.npy".replace(" ", "_")


def _init(
    data: str | None = None,
    save: str | None = None,
    genept: bool = False,
    extra: dict[str, dict[str, str]] | None = None,
    cell_type_key: str = "cell_type",
) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    _DATA["save"] = save
    _DATA["cell_type_key"] = cell_type_key
    _DATA["extra"] = extra or {}  # --tag NAME --set KEY=VALUE: a configuration not in CONFIGS
    import torch

    import scotm

    torch.set_num_threads(1)
    if data:  # Kang as scotm.pp.prepare left it, saved (for a machine without the cache)
        import anndata as ad

        _DATA["adata"] = ad.read_h5ad(data)
    else:
        _DATA["adata"] = scotm.pp.prepare(scotm.datasets.kang())
    if genept and "X_genept" not in _DATA["adata"].obsm:
        _DATA["adata"] = scotm.priors.genept(_DATA["adata"], copy=True)


def _job(job: tuple[str, str, int]) -> list[dict[str, Any]]:
    import logging

    import numpy as np

    from scotm import metrics
    from scotm.baselines import MeanShift, PcaOT
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import SCOTM

    logging.disable(logging.WARNING)
    method, holdout, seed = job
    keys = Keys(cell_type_key=_DATA["cell_type_key"])
    fold = holdout_split(_DATA["adata"], holdout, keys)
    degs = metrics.top_degs(fold.ctrl, fold.real)
    load0 = os.getloadavg()[0]
    rows = []
    t0 = time.perf_counter()
    if method in BASELINES:
        cls = {"mean_shift": MeanShift, "pca_ot": PcaOT}[method]
        model, variants = cls(**keys.as_kwargs()).fit(fold.train), {"": None}
    else:
        if method in _DATA["extra"]:
            settings, variants = _DATA["extra"][method], {"": {}}
        else:
            settings, variants = CONFIGS[method]
        if isinstance(settings, str):
            from scotm.model import ABLATIONS, FAITHFUL

            settings = FAITHFUL if settings == "FAITHFUL" else ABLATIONS[settings]
        model = SCOTM(fold.train, **keys.as_kwargs(), seed=seed, num_threads=1, **settings)
        model.train(progress=False)
    fit_s = time.perf_counter() - t0
    for suffix, over in variants.items():
        t1 = time.perf_counter()
        m = model if over is None or not over else model.variant(**over)
        pred = m.predict(fold.ctrl)
        predict_s = time.perf_counter() - t1
        if _DATA.get("save"):  # for the ensemble over seeds, scored in the main process
            path = pred_file(_DATA["save"], method + suffix, holdout, seed)
            np.save(path, np.asarray(pred.X, dtype=np.float32))
        row = {"holdout": holdout, "method": method + suffix, "seed": seed}
        row.update(metrics.evaluate(fold.ctrl, fold.real, pred, degs))
        row.update(fit_s=fit_s, predict_s=predict_s, load_start=load0)
        row["epochs"] = getattr(model, "train_info", {}).get("epochs")  # autoencoder epochs
        row["load_end"] = os.getloadavg()[0]
        rows.append(row)
    return rows


def mean_shifted(preds: list[Any]) -> Any:
    """The first prediction moved to the mean over ``preds`` of their cell means (clipped at 0).

    ``preds[0] - mean_cells(preds[0]) + mean_k(mean_cells(preds[k]))``: the ensemble's mean
    response with the first model's cell-to-cell spread, which averaging cells would shrink.

    A gene's zeros become the constant added, so a rank test between control and this
    prediction (the DEGs of ``deg_overlap``) sees nearly every gene moved: on a 2-fold screen
    deg_overlap fell from about 0.69 to 0.27 (BENCHMARKS.md, "Seed variance"). Scaling instead
    of shifting (zeros stay zero) was tried and dropped: where the seeds disagree on a gene
    (one predicts no change, the other a large one) the scale factor reached 7 and
    r2_var_deg fell to 0.

    >>> import numpy as np
    >>> mean_shifted([np.array([[0.0, 2.0], [2.0, 2.0]]), np.array([[3.0, 0.0], [3.0, 0.0]])])
    array([[1., 1.],
           [3., 1.]], dtype=float32)
    """
    import numpy as np

    first = np.asarray(preds[0], dtype=np.float64)
    centre = np.mean([np.asarray(p, dtype=np.float64).mean(0) for p in preds], axis=0)
    return np.maximum(first - first.mean(0) + centre, 0.0).astype(np.float32)


def ensembles(
    table: pd.DataFrame, save: Path, data: str | None, cell_type_key: str = "cell_type"
) -> list[dict[str, Any]]:
    """Score two combinations of the seeds' predictions per (method, fold); each costs k fits.

    - ``<method>+ens``: the mean of every seed's predicted expression, cell by cell. It
      removes the part of each model's error that the seed decides, but also shrinks the
      cells' spread (r2_var_deg, deg_overlap fall).
    - ``<method>+ensmean``: the first seed's prediction moved to the mean of the seeds' mean
      predictions (:func:`mean_shifted`): the ensemble's mean, one model's spread.

    Both need every seed's training (``seed`` = -k, ``fit_s`` the sum of the k fits).
    """
    import numpy as np

    from scotm import metrics
    from scotm.benchmark import Keys, holdout_split

    _init(data, cell_type_key=cell_type_key)
    rows = []
    for (method, holdout), g in table[~table.method.isin(BASELINES)].groupby(["method", "holdout"]):
        seeds = sorted(g.seed)
        if len(seeds) < 2:
            continue
        fold = holdout_split(_DATA["adata"], holdout, Keys(cell_type_key=cell_type_key))
        degs = metrics.top_degs(fold.ctrl, fold.real)
        preds = [np.load(pred_file(save, method, holdout, s)) for s in seeds]
        combined = {
            "+ens": np.mean(preds, axis=0),
            "+ensmean": mean_shifted(preds),
        }
        for label, X in combined.items():
            pred = fold.ctrl.copy()
            pred.X = X
            row = {"holdout": holdout, "method": method + label, "seed": -len(seeds)}
            row.update(metrics.evaluate(fold.ctrl, fold.real, pred, degs))
            row.update(fit_s=g.fit_s.sum(), predict_s=g.predict_s.sum())
            rows.append(row)
    return rows


def summarise(table: pd.DataFrame) -> str:
    """Markdown: 8-fold means (mean over seeds, min-max of the seed means) and per fold."""
    cols = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]
    per_seed = table.groupby(["method", "seed"])[cols].mean()
    lines = [
        "Rows `+ens` (cell-by-cell mean of k seeds' predictions) and `+ensmean` (the first "
        "seed's prediction shifted to the k seeds' mean) each cost k trainings: their seeds "
        "column is k and their seconds are the sum of the k fits.",
        "",
        "| method | seeds | " + " | ".join(cols) + " | fit+predict s (median) |",
    ]
    lines.append("|---" * (len(cols) + 3) + "|")
    for method, g in per_seed.groupby(level=0):
        cells = [
            f"{g[c].mean():.3f} ({g[c].min():.3f}-{g[c].max():.3f})"
            if len(g) > 1
            else f"{g[c].mean():.3f}"
            for c in cols
        ]
        t = table[table.method == method]
        secs = (t.fit_s + t.predict_s).median()
        k = -int(t.seed.iloc[0]) if (t.seed < 0).all() else len(g)  # an ensemble: k seeds
        lines.append(f"| {method} | {k} | " + " | ".join(cells) + f" | {secs:.1f} |")
    lines += ["", "Per fold: mean over seeds (min-max)", ""]
    lines.append("| holdout | method | " + " | ".join(cols) + " |")
    lines.append("|---" * (len(cols) + 2) + "|")
    for (holdout, method), g in table.groupby(["holdout", "method"]):
        cells = [
            f"{g[c].mean():.3f} ({g[c].min():.3f}-{g[c].max():.3f})"
            if len(g) > 1
            else f"{g[c].mean():.3f}"
            for c in cols
        ]
        lines.append(f"| {holdout} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", help="default: scotm and the baselines")
    p.add_argument("--holdout", nargs="*", help="cell types (default: all 8)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/kang_seeds")
    p.add_argument("--data", help="a saved scotm.pp.prepare(scotm.datasets.kang()) h5ad")
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="also score, per (method, fold), the cell-by-cell mean of the seeds' predictions "
        "(METHOD+ens) and the first seed's prediction shifted to the seeds' mean "
        "(METHOD+ensmean); each costs k trainings (predictions kept as .npy under --out/pred)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting (repeatable) for one more configuration, run as method --tag "
        "(e.g. --tag scotm_wide --set hidden=512,256); a screen needs no CONFIGS entry",
    )
    p.add_argument("--tag", help="the method name of the --set configuration")
    p.add_argument(
        "--cell-type-key",
        default="cell_type",
        help="the obs column of cell types; another (e.g. Kang's finer seurat_annotations) "
        "gives other folds, every value of it unless --holdout names some",
    )
    args = p.parse_args()
    extra: dict[str, dict[str, str]] = {}
    if args.set or args.tag:
        if not (args.set and args.tag) or args.tag in CONFIGS or args.tag in BASELINES:
            p.error("--set needs --tag, a new method name (and --tag needs --set)")
        pairs = [kv.split("=", 1) for kv in args.set]
        if any(len(kv) != 2 for kv in pairs):
            p.error("--set takes KEY=VALUE")
        extra[args.tag] = dict(pairs)
        from scotm._errors import ScotmInputError  # here, not at the top: see CONFIGS
        from scotm.model import Settings

        try:  # a bad key or value stops here, in one line, not in every worker
            Settings(**extra[args.tag])
        except ScotmInputError as exc:
            p.error(str(exc))
        args.methods = [*(args.methods or []), args.tag]
    elif not args.methods:
        args.methods = ["scotm", *BASELINES]
    unknown = set(args.methods) - set(CONFIGS) - set(BASELINES) - set(extra)
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}; choose from {[*CONFIGS, *BASELINES]}")
    folds = args.holdout or list(KANG_FOLDS)
    if args.cell_type_key != "cell_type" and not args.holdout:
        _init(args.data, cell_type_key=args.cell_type_key)  # the main process reads the types
        folds = sorted(_DATA["adata"].obs[args.cell_type_key].astype(str).unique())
    # baselines are deterministic: one run each
    jobs = [
        (m, h, s)
        for s in args.seeds
        for h in folds
        for m in args.methods
        if m not in BASELINES or s == args.seeds[0]
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    save = out / "pred" if args.ensemble else None
    if save:
        save.mkdir(exist_ok=True)
    genept = any(
        isinstance(CONFIGS[m][0], dict) and CONFIGS[m][0].get("cell_embedding_key") == "X_genept"
        for m in args.methods
        if m in CONFIGS
    ) or any(s.get("cell_embedding_key") == "X_genept" for s in extra.values())
    init = (args.data, str(save) if save else None, genept, extra, args.cell_type_key)
    with mp.get_context("spawn").Pool(args.jobs, _init, init) as pool:
        for res in pool.imap_unordered(_job, jobs):
            rows += res
            print(
                f"[{time.perf_counter() - t0:.0f} s] "
                + "; ".join(
                    f"{r['holdout']} {r['method']} s{r['seed']}: "
                    f"{r['r2_mean_deg']:.3f}/{r['delta_r_deg']:.3f} ({r['fit_s']:.0f} s)"
                    for r in res
                ),
                flush=True,
            )
            pd.DataFrame(rows).to_csv(out / "metrics.csv", index=False)
    if save:
        rows += ensembles(pd.DataFrame(rows), save, args.data, args.cell_type_key)
        pd.DataFrame(rows).to_csv(out / "metrics.csv", index=False)
    table = pd.DataFrame(rows)
    head = (
        f"wall {time.perf_counter() - t0:.0f} s, {args.jobs} job(s), load at end {os.getloadavg()}"
    )
    (out / "summary.md").write_text(head + "\n\n" + summarise(table))
    print(head)
    print(summarise(table))


if __name__ == "__main__":
    main()
