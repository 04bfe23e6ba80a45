"""Unseen drugs on the SIMULATED sci-Plex data: does the response network beat the mean?

One SCOTM is trained on most drugs, with Morgan fingerprints (r=2, 2,048 bits) as the
perturbation embeddings; ``--n-heldout`` drugs are held out entirely (their cells never
enter training, early stopping or tuning). Each held-out drug is then predicted, in every
cell type, from its fingerprint alone (the response network), and compared with

- ``mean_train_drugs``: control cells + the mean response of the training drugs in that
  cell type (the baseline that ignores the drug);
- ``nearest_drug``: control cells + the response of the training drug with the most similar
  fingerprint (Tanimoto) in that cell type (a lookup, no learning).

The data are simulated (``scotm.datasets.sciplex_sim``): the simulator's drug effects come
from RDKit descriptors and MACCS keys, which the model never sees.

    python benchmarks/sciplex_unseen.py --out benchmarks/results/sciplex_unseen

Writes ``metrics.csv`` (one row per held-out drug, cell type and method) and
``summary.txt`` (the mean over drugs and cell types) to ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

import scotm
from scotm import metrics
from scotm._io import write_text
from scotm.design import Keys, split
from scotm.model import SCOTM

sys.path.insert(0, str(Path(__file__).parent))
from _settings import settings_or_exit  # noqa: E402


def morgan_fingerprints(smiles: dict[str, str]) -> pd.DataFrame:
    """Morgan fingerprints (radius 2, 2048 bits) as a name-indexed 0/1 table."""
    fp = scotm.priors.MorganFingerprint(radius=2, n_bits=2048).embed(list(smiles.values()))
    return pd.DataFrame(fp, index=list(smiles))


def _dense(a: ad.AnnData) -> np.ndarray:
    return np.asarray(a.X.toarray() if hasattr(a.X, "toarray") else a.X, dtype=np.float32)


def _shifted(ctrl: ad.AnnData, delta: np.ndarray) -> ad.AnnData:
    return ad.AnnData(
        X=np.clip(_dense(ctrl) + delta, 0, None), obs=ctrl.obs.copy(), var=ctrl.var.copy()
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/sciplex_unseen")
    p.add_argument("--n-heldout", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="model seed and held-out draw")
    p.add_argument("--data-seed", type=int, default=0, help="simulator seed")
    p.add_argument("--n-cells-per-drug", type=int, default=20)
    p.add_argument("--n-ctrl-per-type", type=int, default=400)
    p.add_argument("--n-genes", type=int, default=1000)
    p.add_argument("--threads", type=int, help="torch threads for training")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--fit-check",
        type=int,
        default=10,
        metavar="N",
        help="also score N TRAINING drugs (a fit check, not generalisation): OT transfer vs "
        "the response network, to see where an unseen-drug error comes from",
    )
    args = p.parse_args()
    settings = settings_or_exit(p, args.set)  # as scotm train --set KEY=VALUE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t_start = time.perf_counter()
    raw = scotm.datasets.sciplex_sim(
        n_ctrl_per_type=args.n_ctrl_per_type,
        n_cells_per_drug=args.n_cells_per_drug,
        n_genes=args.n_genes,
        seed=args.data_seed,
    )
    adata = scotm.pp.prepare(raw, n_top_genes=None)
    smiles = dict(raw.uns["sciplex_smiles"])
    fp = morgan_fingerprints(smiles)
    drugs = sorted(smiles)
    rng = np.random.default_rng(args.seed)
    held_out = sorted(rng.choice(drugs, args.n_heldout, replace=False).tolist())
    train_drugs = [d for d in drugs if d not in held_out]
    cond = adata.obs["condition"].astype(str).to_numpy()
    types = adata.obs["cell_type"].astype(str).to_numpy()
    # held-out drugs never enter training
    train = split(adata, held_out, Keys(perturbed=None), kind="perturbation").train
    logging.info(
        "%d cells x %d genes; training on %d drugs (%d cells), holding out %d: %s",
        adata.n_obs,
        adata.n_vars,
        len(train_drugs),
        train.n_obs,
        len(held_out),
        ", ".join(held_out),
    )
    t0 = time.perf_counter()
    model = SCOTM(
        train,
        perturbed=None,
        perturbation_embeddings=fp.loc[train_drugs],  # only training drugs' vectors
        perturbation_embedding_source="morgan r=2 2048 (scotm.priors.MorganFingerprint)",
        seed=args.seed,
        num_threads=args.threads,
        **settings,
    ).train(progress=False)
    fit_s = time.perf_counter() - t0
    logging.info("trained in %.0f s: %s", fit_s, model.train_info)

    # per-type training responses, for the two baselines
    X = _dense(adata)
    ctrl_mean = {t: X[(cond == "control") & (types == t)].mean(0) for t in sorted(set(types))}
    train_delta = {
        (d, t): X[(cond == d) & (types == t)].mean(0) - ctrl_mean[t]
        for d in train_drugs
        for t in ctrl_mean
    }
    bits = fp.to_numpy() > 0
    names = list(fp.index)

    def tanimoto_nearest(d: str) -> str:
        a = bits[names.index(d)]
        best, best_sim = None, -1.0
        for other in train_drugs:
            b = bits[names.index(other)]
            sim = (a & b).sum() / max((a | b).sum(), 1)
            if sim > best_sim:
                best, best_sim = other, sim
        return best

    rows = []
    for d in held_out:
        nearest = tanimoto_nearest(d)
        for t in ctrl_mean:
            ctrl = adata[(cond == "control") & (types == t)].copy()
            real = adata[(cond == d) & (types == t)].copy()
            degs = metrics.top_degs(ctrl, real)
            preds = {
                "scotm_response": model.predict(
                    ctrl, d, perturbation_embedding=fp.loc[d].to_numpy()
                ),
                "mean_train_drugs": _shifted(
                    ctrl, np.mean([train_delta[(o, t)] for o in train_drugs], axis=0)
                ),
                "nearest_drug": _shifted(ctrl, train_delta[(nearest, t)]),
            }
            deg_idx = ctrl.var_names.get_indexer(degs)
            truth = _dense(real).mean(0)
            for method, pred in preds.items():
                m = metrics.evaluate(ctrl, real, pred, degs)
                err = _dense(pred).mean(0) - truth
                m["mse_mean_all"] = float((err**2).mean())
                m["mse_mean_deg"] = float((err[deg_idx] ** 2).mean())
                rows.append({"drug": d, "cell_type": t, "method": method, **m})
        logging.info("%s done (nearest training drug: %s)", d, nearest)
    # Fit check on drugs the model WAS trained on (their cells were in training): is a poor
    # unseen-drug score the response network's extrapolation, or the autoencoder/decoder?
    check_rows = []
    for d in sorted(rng.choice(train_drugs, min(args.fit_check, len(train_drugs)), replace=False)):
        for t in ctrl_mean:
            ctrl = adata[(cond == "control") & (types == t)].copy()
            real = adata[(cond == d) & (types == t)].copy()
            degs = metrics.top_degs(ctrl, real)
            for method, source in (("scotm_transfer", "transfer"), ("scotm_response", "response")):
                m = metrics.evaluate(ctrl, real, model.predict(ctrl, d, source=source), degs)
                check_rows.append({"drug": d, "cell_type": t, "method": method, **m})
            m = metrics.evaluate(ctrl, real, _shifted(ctrl, train_delta[(d, t)]), degs)
            check_rows.append({"drug": d, "cell_type": t, "method": "own_mean_response", **m})
    table = pd.DataFrame(rows)
    out = Path(args.out)
    write_text(table.to_csv(index=False), out / "metrics.csv")
    cols = ["r2_mean_deg", "delta_r_deg", "delta_r_all", "mse_mean_deg", "mse_mean_all", "edist"]
    mean = table.groupby("method")[cols].mean()
    median = table.groupby("method")[cols].median()
    wins = table.pivot_table(
        index=["drug", "cell_type"], columns="method", values="delta_r_deg"
    ).pipe(lambda w: (w["scotm_response"] > w["mean_train_drugs"]).mean())
    wall = time.perf_counter() - t_start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    report = [
        f"SIMULATED sci-Plex (scotm.datasets.sciplex_sim, data seed {args.data_seed}): "
        f"{adata.n_obs} cells x {adata.n_vars} genes, {len(drugs)} drugs, "
        f"{len(ctrl_mean)} cell types",
        f"held out {len(held_out)} drugs (seed {args.seed}): {', '.join(held_out)}",
        f"training {fit_s:.0f} s ({model.train_info['epochs']} autoencoder epochs, "
        f"{model.train_info.get('response_epochs')} response epochs); wall {wall:.0f} s; "
        f"peak RSS {peak_gb:.2f} GB",
        "",
        "Mean over held-out drugs x cell types:",
        mean.to_string(float_format=lambda v: f"{v:.3f}"),
        "",
        "Median:",
        median.to_string(float_format=lambda v: f"{v:.3f}"),
        "",
        f"scotm_response beats mean_train_drugs on delta_r_deg in {wins:.0%} of drug x type",
    ]
    if check_rows:
        check = pd.DataFrame(check_rows)
        write_text(check.to_csv(index=False), out / "fit_check.csv")
        fit_cols = ["r2_mean_deg", "delta_r_deg", "delta_r_all", "edist"]
        report += [
            "",
            f"Fit check on {check['drug'].nunique()} TRAINING drugs (seen in training; not a "
            "generalisation result), mean over drugs x cell types:",
            check.groupby("method")[fit_cols].mean().to_string(float_format=lambda v: f"{v:.3f}"),
        ]
    write_text("\n".join(report) + "\n", out / "summary.txt")
    print("\n".join(report))


if __name__ == "__main__":
    main()
