"""Where does the default lose on a Kang fold: in the transfer of shifts, or in the decoder?

A diagnostic, not a method: the rows marked *oracle* and *only* use the held-out type's real
perturbed cells, which no prediction may see. For each fold and seed the default SCOTM is
trained exactly as ``kang_seeds.py`` trains it (one thread, ``seed``), or loaded from
``--models`` when a run has saved it there, and its control cells are decoded, as
``SCOTM.predict`` decodes them (residual, ``zero_below``), under these latent shifts:

- ``default``: the transferred OT shifts (``k`` neighbours over every training type), i.e.
  the model's own prediction (the committed results, at ``e5d0447``, predate the
  ``neighbour_weights`` setting: their neighbours are weighted by similarity alone, as
  ``--set neighbour_weights=similarity`` gives; a model saved under ``--models`` keeps the
  settings it was saved with, and one saved before that setting loads with similarity);
- ``oracle``: the held-out type's own OT shift (its control codes coupled with its real
  perturbed codes): what a perfect transfer could reach through this decoder;
- ``oracle_mean``: that oracle's mean shift, the same for every cell;
- ``only:TYPE``: the shifts transferred from one training type's reference cells alone;
- ``global_mean``: the mean shift over the whole reference, the same for every cell.

It also reports each training type's share of the default's neighbours. Writes
``OUT/metrics.csv`` and ``OUT/summary.md``.

    python benchmarks/transfer_ceiling.py --seeds 0 1 2 --models /tmp/kang_models --out OUT
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

sys.path.insert(0, str(Path(__file__).parent))
from kang_seeds import KANG_FOLDS  # noqa: E402

COLS = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]


def fold_model(fold, keys, seed: int, models: Path | None):
    """The default model of a fold: loaded from ``models`` if saved there, else trained."""
    from scotm.model import SCOTM

    path = None if models is None else models / f"{fold.holdout}__{seed}".replace(" ", "_")
    if path is not None and path.exists():
        return SCOTM.load(path)
    model = SCOTM(fold.train, **keys.as_kwargs(), seed=seed, num_threads=1).train(progress=False)
    if path is not None:
        model.save(path)
    return model


def shifts_to_score(model, fold, z: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The latent shifts of the module's text, by row name, and the neighbours' type shares."""
    from scotm import transport
    from scotm.model.predict import transfer

    ref = model.references[model.perturbations[0]]
    codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
    k = model.settings.k
    default, shares = transfer(ref, z, model.settings)
    z_real = model.get_latent(fold.real)
    oracle = transport.barycentric_shift(z, z_real, transport.coupling(z, z_real))
    out = {
        "default": default,
        "oracle": oracle,
        "oracle_mean": np.broadcast_to(oracle.mean(0), z.shape),
        "global_mean": np.broadcast_to(shifts.mean(0), z.shape),
    }
    for t in np.unique(ref.cell_types):
        own = ref.cell_types == t
        out[f"only:{t}"] = transport.transfer_shifts(z, codes[own], shifts[own], k)[0]
    return out, shares


def run(holdout: str, seed: int, adata, models: Path | None, over: dict) -> list[dict]:
    from scotm import metrics
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import conditional
    from scotm.model.predict import zero_below

    keys = Keys()
    fold = holdout_split(adata, holdout, keys)
    degs = metrics.top_degs(fold.ctrl, fold.real)
    model = fold_model(fold, keys, seed, models)
    model = model.variant(**over) if over else model
    name = model.perturbations[0]
    z = model.get_latent(fold.ctrl)
    variants, shares = shifts_to_score(model, fold, z)
    rows = []
    for variant, shift in variants.items():
        X, _ = conditional.predict_expression(model, fold.ctrl.X, z, shift, name)
        X = zero_below(X, model.settings.zero_below)
        pred = ad.AnnData(X.astype(np.float32), obs=fold.ctrl.obs, var=fold.ctrl.var)
        row = {"holdout": holdout, "seed": seed, "variant": variant}
        row.update(metrics.evaluate(fold.ctrl, fold.real, pred, degs))
        if variant.startswith("only:"):
            row["share"] = shares.get(variant[5:], 0.0)
        rows.append(row)
    return rows


def summarise(table: pd.DataFrame) -> str:
    """Markdown: per fold, mean over seeds (min-max) of each variant's r2_mean_deg, and the
    8-fold means of the default and the oracles."""
    lines = ["8-fold means (mean over seeds; min-max of the seeds' 8-fold means):", ""]
    lines.append("| variant | " + " | ".join(COLS) + " |")
    lines.append("|---" * (len(COLS) + 1) + "|")
    main = table[table.variant.isin(["default", "oracle", "oracle_mean", "global_mean"])]
    per_seed = main.groupby(["variant", "seed"])[COLS].mean()
    for variant, g in per_seed.groupby(level=0, sort=False):
        cells = [f"{g[c].mean():.3f} ({g[c].min():.3f}-{g[c].max():.3f})" for c in COLS]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += ["", "Per fold, r2_mean_deg (mean over seeds, min-max); share: of the default's "
              "neighbours", "", "| holdout | variant | r2_mean_deg | share |", "|---|---|---|---|"]  # fmt: skip
    for (holdout, variant), g in table.groupby(["holdout", "variant"], sort=False):
        share = f"{g.share.mean():.2f}" if "share" in g and g.share.notna().any() else ""
        r2 = g.r2_mean_deg
        lines.append(
            f"| {holdout} | {variant} | {r2.mean():.3f} ({r2.min():.3f}-{r2.max():.3f}) | {share} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--holdout", nargs="*", default=list(KANG_FOLDS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--models", help="save trained fold models here, and reuse them")
    p.add_argument("--out", default="/tmp/transfer_ceiling")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a post-training setting for every row, e.g. neighbour_weights=similarity",
    )
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    import scotm
    from scotm._io import write_text

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    adata = scotm.pp.prepare(scotm.datasets.kang())
    models = Path(args.models) if args.models else None
    if models is not None:
        models.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        for holdout in args.holdout:
            new = run(holdout, seed, adata, models, dict(kv.split("=", 1) for kv in args.set))
            r2 = {r["variant"]: round(r["r2_mean_deg"], 3) for r in new}
            print(
                f"{holdout} seed {seed}: default {r2['default']}, oracle {r2['oracle']}", flush=True
            )
            rows += new
    table = pd.DataFrame(rows)
    out = Path(args.out)
    write_text(table.to_csv(index=False), out / "metrics.csv")
    write_text(summarise(table), out / "summary.md")
    print(summarise(table))


if __name__ == "__main__":
    main()
