"""Kang: how the score grows with the number of seeds averaged (1, 2, ... k), with a spread.

Reads the per-seed predictions that ``kang_seeds.py --ensemble`` keeps (``OUT/pred``) and
scores, per method and fold, the cell-by-cell mean of every subset of ``m`` seeds, for each
``m`` from 1 to k (with 3 seeds: three single models, three pairs, one triple). The 8-fold
mean of each subset is one "draw" of an ensemble of size ``m``; the table gives, per size,
the mean over draws and their min-max. Size 1 reproduces ``kang_seeds.py``'s rows.

    python benchmarks/kang_seeds.py --methods scotm --seeds 0 1 2 --ensemble --out OUT
    python benchmarks/ensemble_sizes.py --pred OUT/pred --out OUT/sizes

``--combine mix`` scores a mixture instead of a mean: each control cell is predicted by one
member of the subset (the cells dealt to the members in a fixed random order), so the
ensemble's mean response is the members' average while each cell keeps one model's
spread, which the cell-by-cell mean shrinks.

Writes ``--out``/``metrics.csv`` (one row per method, fold and seed subset) and
``summary.md``. The cost of an ensemble of ``m`` is ``m`` trainings.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from kang_seeds import pred_file  # noqa: E402

COLS = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]


def saved(pred: Path) -> dict[tuple[str, str], dict[int, Path]]:
    """``(method, fold) -> {seed: file}``: the rows of ``kang_seeds.py``'s ``metrics.csv``
    (next to ``pred``) whose prediction was kept."""
    table = pd.read_csv(pred.parent / "metrics.csv")
    out: dict[tuple[str, str], dict[int, Path]] = {}
    for method, holdout, seed in table[["method", "holdout", "seed"]].itertuples(index=False):
        f = pred_file(pred, method, holdout, seed)
        if f.exists():
            out.setdefault((method, holdout), {})[int(seed)] = f
    return out


def summarise(table: pd.DataFrame) -> str:
    """Markdown: per method and size, the mean over subsets of the 8-fold mean (min-max)."""
    folds = table.groupby(["method", "size", "subset"])[COLS].mean()
    lines = ["| method | seeds averaged | subsets | " + " | ".join(COLS) + " | worst fold |"]
    lines.append("|---" * (len(COLS) + 4) + "|")
    for (method, size), g in folds.groupby(level=[0, 1]):
        cells = [f"{g[c].mean():.3f} ({g[c].min():.3f}-{g[c].max():.3f})" for c in COLS]
        t = table[(table.method == method) & (table["size"] == size)]
        worst = t.groupby("holdout").r2_mean_deg.mean().sort_values().iloc[:1]
        w = f"{worst.index[0]} {worst.iloc[0]:.3f}"
        lines.append(f"| {method} | {size} | {len(g)} | " + " | ".join(cells) + f" | {w} |")
    return "\n".join(lines) + "\n"


def combine(preds: list[np.ndarray], how: str) -> np.ndarray:
    """The cell-by-cell mean of ``preds`` (``"mean"``), or a mixture (``"mix"``): cell ``i``
    from member ``order[i] % len(preds)``, a fixed random order (seed 0).

    >>> a, b = np.zeros((4, 2)), np.ones((4, 2))
    >>> combine([a, b], "mean")[:, 0].tolist(), sorted(combine([a, b], "mix")[:, 0].tolist())
    ([0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0])
    """
    if how == "mean" or len(preds) == 1:
        return np.mean(preds, axis=0)
    member = np.random.default_rng(0).permutation(len(preds[0])) % len(preds)
    out = np.array(preds[0], copy=True)
    for m in range(1, len(preds)):
        out[member == m] = preds[m][member == m]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pred", required=True, help="kang_seeds.py --ensemble's OUT/pred")
    p.add_argument("--out", required=True)
    p.add_argument("--data", help="a saved scotm.pp.prepare(scotm.datasets.kang()) h5ad")
    p.add_argument(
        "--combine",
        choices=["mean", "mix"],
        default="mean",
        help="the cell-by-cell mean of the seeds (default), or a mixture: each cell from one",
    )
    args = p.parse_args()
    import anndata as ad

    import scotm
    from scotm import metrics
    from scotm.benchmark import Keys, holdout_split

    adata = ad.read_h5ad(args.data) if args.data else scotm.pp.prepare(scotm.datasets.kang())
    rows = []
    for (method, holdout), files in saved(Path(args.pred)).items():
        fold = holdout_split(adata, holdout, Keys())
        degs = metrics.top_degs(fold.ctrl, fold.real)
        preds = {s: np.load(f) for s, f in files.items()}
        for size in range(1, len(preds) + 1):
            for subset in itertools.combinations(sorted(preds), size):
                pred = fold.ctrl.copy()
                pred.X = combine([preds[s] for s in subset], args.combine)
                row = {"method": method, "holdout": holdout, "size": size}
                row["subset"] = "+".join(map(str, subset))
                row.update(metrics.evaluate(fold.ctrl, fold.real, pred, degs))
                rows.append(row)
        print(f"{method} {holdout}: {len(preds)} seeds", flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "metrics.csv", index=False)
    summary = summarise(table)
    (out / "summary.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    main()
