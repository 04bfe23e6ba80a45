"""Does ``scotm benchmark --perturbed all`` give benchmarks/perturbench.py's cellline numbers?

Reads the CLI's ``metrics.csv`` of each seed and the script's ``cellline_seed<N>.csv``, matches
rows by (seed, cell line, target, method) and prints, per method and metric, the largest and
the mean absolute difference, and the mean over rows of each side.

    python benchmarks/perturbench_cli_check.py --cli DIR/seed{}/metrics.csv \\
        --script DIR/cellline_seed{}.csv --seeds 0 1 2
"""

from __future__ import annotations

import argparse

import pandas as pd

#: the script's method names -> the CLI's
METHODS = {"scotm_all": "scotm", "scotm_separate": "scotm_separate"}
COLS = ["r2_mean_deg", "delta_r_deg", "edist", "systema_r", "centroid_rank"]


def load(cli: str, script: str, seeds: list[int]) -> pd.DataFrame:
    """The two sides' rows side by side (suffixes ``_cli`` and ``_script``)."""
    parts = []
    for s in seeds:
        a = pd.read_csv(cli.format(s)).rename(columns={"holdout": "fold"})
        b = pd.read_csv(script.format(s)).replace({"method": METHODS})
        keys = ["fold", "perturbation", "method"]
        data = [
            "responsive",
            "response_p",
        ]  # the script's response test: the data's, not a method's
        m = a[keys + COLS].merge(b[keys + COLS + data], on=keys, suffixes=("_cli", "_script"))
        if len(m) != len(a) or len(m) != len(b):
            raise SystemExit(f"seed {s}: {len(a)} CLI rows, {len(b)} script rows, {len(m)} matched")
        parts.append(m.assign(seed=s))
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cli", required=True, help="metrics.csv path with {} for the seed")
    p.add_argument("--script", required=True, help="cellline CSV path with {} for the seed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    t = load(args.cli, args.script, args.seeds)
    rows = []
    for method, g in t.groupby("method", sort=False):
        for c in COLS:
            d = (g[f"{c}_cli"] - g[f"{c}_script"]).abs()
            rows.append(
                {
                    "method": method,
                    "metric": c,
                    "rows": len(g),
                    "max_abs_diff": d.max(),
                    "mean_abs_diff": d.mean(),
                    "mean_cli": g[f"{c}_cli"].mean(),
                    "mean_script": g[f"{c}_script"].mean(),
                }
            )
    print(f"seeds {args.seeds}: {len(t)} matched (seed, line, target, method) rows")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    # the CLI's figures: each seed's mean over its (line, target) rows, then mean ± SD over seeds
    cli = t.rename(columns={f"{c}_cli": c for c in COLS})
    cli["centroid_acc"] = (cli["centroid_rank"] == 0).astype(float)
    cols = [*COLS, "centroid_acc"]
    for label, sub in (
        ("all", cli),
        ("BH-responsive", cli[cli["responsive"]]),
        ("p < 0.05", cli[cli["response_p"] < 0.05]),
    ):
        per_seed = sub.groupby(["method", "seed"], sort=False)[cols].mean()
        g = per_seed.groupby(level=0, sort=False)
        mean, sd = g.mean(), g.std(ddof=1).fillna(0.0)
        table = mean.map(lambda v: f"{v:.3f}") + " ± " + sd.map(lambda v: f"{v:.3f}")
        n = len(sub) // max(1, sub["method"].nunique() * len(args.seeds))
        print(
            f"\nCLI, {label} rows ({n} per method and seed; the script's response test), "
            f"mean ± SD over {len(args.seeds)} seed(s) of the per-seed mean:"
        )
        print(table.to_string())


if __name__ == "__main__":
    main()
