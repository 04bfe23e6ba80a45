"""How large is each method's predicted response on Kang, fold by fold? (a diagnostic)

Reads the predictions that ``kang_seeds.py --ensemble`` keeps (``OUT/pred/METHOD__FOLD__SEED.npy``)
and prints, per fold and method:

- ``slope``: the least-squares slope of the predicted on the real mean change over the fold's
  top-100 DEGs (1: the right size; below 1: too small a response);
- ``r2`` / ``edist``: the pinned metrics as scored, and with the predicted change scaled by
  each ``--gains`` value (``ctrl + g * (pred - ctrl)``, clipped at 0): what one global size
  correction would do if it were known;
- ``edist_mean``: the edist of the controls moved by the prediction's mean change alone,
  which shows whether a method's edist comes from its mean or from its cells' spread.

The gains use the held-out cells to score: this is a diagnostic, not a method.

    python benchmarks/kang_seeds.py --methods scotm pca_ot --seeds 0 --ensemble --out OUT
    python benchmarks/response_amplitude.py --pred OUT/pred --methods scotm pca_ot
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anndata as ad
import numpy as np

import scotm
from scotm import metrics
from scotm._arrays import dense
from scotm.benchmark import Keys, holdout_split

sys.path.insert(0, str(Path(__file__).parent))
from kang_seeds import pred_file  # noqa: E402


def scored(fold, degs, x: np.ndarray) -> dict[str, float]:
    return metrics.evaluate(fold.ctrl, fold.real, ad.AnnData(x, var=fold.ctrl.var), degs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pred", required=True, help="kang_seeds.py --ensemble's OUT/pred")
    p.add_argument("--methods", nargs="+", default=["scotm"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gains", nargs="*", type=float, default=[1.15, 1.3])
    args = p.parse_args()
    adata = scotm.pp.prepare(scotm.datasets.kang())
    folds = adata.obs["cell_type"].astype(str).value_counts().index
    for holdout in sorted(folds):
        fold = holdout_split(adata, holdout, Keys())
        degs = metrics.top_degs(fold.ctrl, fold.real)
        on_degs = np.isin(fold.ctrl.var_names, degs)
        c, r = dense(fold.ctrl.X), dense(fold.real.X)
        real_change = (r.mean(0) - c.mean(0))[on_degs]
        for method in args.methods:
            path = pred_file(args.pred, method, holdout, args.seed)
            if not path.exists():
                continue
            x = np.load(path)
            change = x.mean(0) - c.mean(0)
            slope = np.polyfit(real_change, change[on_degs], 1)[0]
            base = scored(fold, degs, x)
            mean_only = scored(fold, degs, np.clip(c + change, 0, None).astype(np.float32))
            line = (
                f"{holdout:16s} {method:8s} slope {slope:.2f}  r2 {base['r2_mean_deg']:.3f} "
                f"edist {base['edist']:.2f} edist_mean {mean_only['edist']:.2f}"
            )
            for g in args.gains:
                m = scored(fold, degs, np.clip(c + g * (x - c), 0, None).astype(np.float32))
                line += f"  | x{g}: r2 {m['r2_mean_deg']:.3f} edist {m['edist']:.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
