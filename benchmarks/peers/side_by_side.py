"""Print the peers' per-fold scores beside scotm's committed ones, as a Markdown table.

Reads, without rerunning anything:
- ``benchmarks/peers/results/metrics_<peer>.csv`` (``score_predictions.py``'s output);
- ``benchmarks/results/kang_model/metrics.csv``: scotm's default model, ``pca_ot`` and
  ``mean_shift`` (BENCHMARKS.md, "SCOTM on Kang: all 8 folds");
- ``benchmarks/results/kang_priors/metrics.csv``, method ``cell``: scotm with the GenePT cell
  prior (BENCHMARKS.md, "Kang priors ablation");
- ``benchmarks/results/kang_seeds/metrics.csv``: the default model's mean over seeds 0-2
  (BENCHMARKS.md, "The default SCOTM on Kang: 3 seeds per fold").

``--results DIR`` reads the peers' CSVs from another folder (e.g. ``results/default`` for the
runs at the packages' default epochs).

Means are taken over the folds every listed peer ran, so every row of the mean table covers the
same folds.

    python benchmarks/peers/side_by_side.py [--peers trvae scgen biolord scpram] [--results DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[0] / "results"
COLS = ["r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap", "edist"]
OURS = [
    (RESULTS / "kang_model" / "metrics.csv", "scotm", "scotm (default model)"),
    (RESULTS / "kang_seeds" / "metrics.csv", "scotm", "scotm (default, mean of 3 seeds)"),
    (RESULTS / "kang_priors" / "metrics.csv", "cell", "scotm + GenePT cell prior"),
    (RESULTS / "kang_model" / "metrics.csv", "pca_ot", "pca_ot"),
    (RESULTS / "kang_model" / "metrics.csv", "mean_shift", "mean_shift"),
]


def load(peers: list[str], results: Path = HERE / "results") -> tuple[pd.DataFrame, list[str]]:
    frames = []
    for path, method, label in OURS:
        t = pd.read_csv(path)
        t = t[t["method"] == method].groupby("holdout", as_index=False, sort=False)[COLS].mean()
        frames.append(t.assign(method=label))
    folds = list(frames[0]["holdout"])
    peer_folds = set(folds)
    for peer in peers:
        path = results / f"metrics_{peer}.csv"
        if not path.exists():
            continue
        t = pd.read_csv(path)
        epochs = t["epochs"].dropna().unique() if "epochs" in t else []
        label = peer if len(epochs) != 1 else f"{peer} ({int(epochs[0])} epochs)"
        frames.append(t.assign(method=label))
        peer_folds &= set(t["holdout"])
    table = pd.concat(frames, ignore_index=True)
    return table[["holdout", "method", *COLS]], [f for f in folds if f in peer_folds]


def markdown(table: pd.DataFrame) -> str:
    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = []
    for row in table.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--peers", nargs="*", default=["trvae", "scgen", "biolord", "cpa", "scpram"]
    )
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    table, common = load(args.peers, args.results)
    methods = list(dict.fromkeys(table["method"]))
    per_fold = table[table["holdout"].isin(common)].copy()
    per_fold["holdout"] = pd.Categorical(per_fold["holdout"], common, ordered=True)
    per_fold["method"] = pd.Categorical(per_fold["method"], methods, ordered=True)
    per_fold = per_fold.sort_values(["holdout", "method"])
    print(f"Per fold ({len(common)} folds every listed peer ran):\n")
    print(markdown(per_fold.astype({"holdout": str, "method": str})))
    mean = per_fold.groupby("method", observed=True, sort=True)[COLS].mean().reset_index()
    print(f"\nMean over those {len(common)} folds ({', '.join(common)}):\n")
    print(markdown(mean.astype({"method": str})))


if __name__ == "__main__":
    main()
