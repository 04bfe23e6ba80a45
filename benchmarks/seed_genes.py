"""Where two seeds of one method disagree on a Kang fold: the DEGs that carry the difference.

Reads the predictions that ``kang_seeds.py --ensemble`` keeps (``DIR/pred``) and, per fold,
lists the top-100 DEGs (pinned protocol) whose predicted mean change differs most between
the seeds, with the real change, and the share of the seeds' squared disagreement over the
DEGs that the five largest carry. A prediction of exactly +0.00 is a gene that the
decoder outputs as zero (ReLU) both before and after the shift.

    python benchmarks/seed_genes.py --out DIR --method scotm --seeds 0 1 \\
        --holdout "CD14+ Monocytes" DC
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from kang_seeds import pred_file  # noqa: E402


def _mean(adata) -> np.ndarray:
    X = adata.X
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64).mean(0)


def main() -> None:
    import scotm
    from scotm import metrics
    from scotm.benchmark import Keys, holdout_split

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="a kang_seeds.py --ensemble --out folder")
    p.add_argument("--method", default="scotm")
    p.add_argument("--seeds", nargs=2, type=int, default=[0, 1])
    p.add_argument("--holdout", nargs="+", default=["CD14+ Monocytes", "DC"])
    p.add_argument("--top", type=int, default=8, help="genes listed per fold")
    args = p.parse_args()
    logging.disable(logging.WARNING)
    adata = scotm.pp.prepare(scotm.datasets.kang())
    for h in args.holdout:
        fold = holdout_split(adata, h, Keys())
        degs = metrics.top_degs(fold.ctrl, fold.real)
        idx = np.array([fold.ctrl.var_names.get_loc(g) for g in degs])
        mc, mr = _mean(fold.ctrl)[idx], _mean(fold.real)[idx]
        pred = [np.load(pred_file(Path(args.out) / "pred", args.method, h, s)) for s in args.seeds]
        d = [p.astype(np.float64).mean(0)[idx] - mc for p in pred]
        r2 = [np.corrcoef(dp + mc, mr)[0, 1] ** 2 for dp in d]
        gap = np.abs(d[0] - d[1])
        share = np.sort(gap**2)[::-1][:5].sum() / (gap**2).sum()
        s0, s1 = args.seeds
        print(f"{h}, {args.method}: r2_mean_deg seed {s0} {r2[0]:.3f}, seed {s1} {r2[1]:.3f}")
        print(f"  the 5 most disputed DEGs carry {share:.0%} of the squared disagreement")
        print(f"  {'gene':>10}  real  seed{s0}  seed{s1}  control mean")
        for j in np.argsort(-gap)[: args.top]:
            print(f"  {degs[j]:>10} {mr[j] - mc[j]:+.2f} {d[0][j]:+.2f} {d[1][j]:+.2f} {mc[j]:.2f}")


if __name__ == "__main__":
    main()
