"""One table: every peer at its package defaults, every Kang fold, beside scotm's seed spread.

Reads, without rerunning anything:
- ``benchmarks/peers/results/default/metrics_<peer>.csv`` (``score_predictions.py``'s output for
  the runs at each package's defaults; ``--results`` reads another folder);
- ``benchmarks/results/kang_seeds/metrics.csv``, method ``scotm``: scotm's default model with
  seeds 0, 1 and 2 (BENCHMARKS.md, "The default SCOTM on Kang: 3 seeds per fold").

Scotm's cells are the mean of its 3 seeds with the min-max of the seeds in brackets. Each peer
ran one seed (0), so a peer's cell is one number; its verdict against scotm is ``win`` when it
is better than every scotm seed (higher r2_mean_deg and delta_r_deg; lower edist), ``loss``
when it is worse than every scotm seed, and ``tie`` inside scotm's seed range. The peer's own
seed spread is unknown unless it ran more seeds (``--results`` folders with one CSV per seed are
not read here).

The mean block holds scotm's and each peer's mean over the folds that peer ran: "8 folds" when
it ran all of them, else the folds named, with scotm's mean over the same folds beside it.
Scotm's min-max there is the range of its per-seed means over those folds.

    python benchmarks/peers/peer_table.py [--peers trvae scgen biolord cpa scpram] [--results DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
#: the current default's committed 3-seed run (BENCHMARKS.md, "Neighbours weighted per cell type")
SEEDS_CSV = HERE.parents[0] / "results" / "kang_seeds_balanced" / "metrics.csv"
COLS = ["r2_mean_deg", "delta_r_deg", "edist"]
LOWER_IS_BETTER = {"edist"}
PEERS = ["scpram", "trvae", "scgen", "biolord", "cpa"]
NAMES = {"scpram": "scPRAM", "trvae": "trVAE", "scgen": "scGen", "biolord": "biolord", "cpa": "CPA"}


def scotm_seeds(path: Path = SEEDS_CSV, method: str = "scotm") -> pd.DataFrame:
    """Scotm's rows of ``method``, one per (fold, seed), columns ``holdout, seed, *COLS``."""
    t = pd.read_csv(path)
    t = t[t["method"] == method]
    if t.empty:
        raise SystemExit(f"{path} has no rows of method '{method}'")
    return t[["holdout", "seed", *COLS]].reset_index(drop=True)


def load_peers(results: Path, peers: list[str]) -> dict[str, pd.DataFrame]:
    """Each peer's per-fold rows from ``results/metrics_<peer>.csv``; peers without one left out."""
    out = {}
    for peer in peers:
        path = results / f"metrics_{peer}.csv"
        if path.exists():
            out[peer] = pd.read_csv(path).set_index("holdout")
    return out


def verdict(value: float, lo: float, hi: float, col: str) -> str:
    """``win`` / ``loss`` / ``tie`` of a peer's value against scotm's seed range [lo, hi]."""
    better, worse = (value < lo, value > hi) if col in LOWER_IS_BETTER else (value > hi, value < lo)
    return "win" if better else "loss" if worse else "tie"


def _spread(mean: float, lo: float, hi: float) -> str:
    return f"{mean:.3f} ({lo:.3f}-{hi:.3f})"


def _epochs(t: pd.DataFrame, folds: list[str]) -> str:
    if "epochs" not in t:
        return "?"
    e = t.loc[folds, "epochs"].dropna().astype(int)
    if e.empty:
        return "?"
    return str(e.iloc[0]) if e.nunique() == 1 else f"{e.min()}-{e.max()}"


def rows(seeds: pd.DataFrame, peers: dict[str, pd.DataFrame], folds: list[str]) -> list[list]:
    """Table rows: per fold scotm then each peer that ran it; then the mean block."""
    out = []
    for fold in folds:
        s = seeds[seeds["holdout"] == fold]
        if s.empty:
            continue
        agg = s[COLS].agg(["mean", "min", "max"])
        out.append(
            [fold, "scotm (default)", "3 seeds", "-"]
            + [_spread(agg.at["mean", c], agg.at["min", c], agg.at["max", c]) for c in COLS]
        )
        for peer, t in peers.items():
            if fold in t.index:
                out.append(
                    [fold, NAMES.get(peer, peer), "1 seed", _epochs(t, [fold])]
                    + [
                        f"{t.at[fold, c]:.3f} {verdict(t.at[fold, c], agg.at['min', c], agg.at['max', c], c)}"
                        for c in COLS
                    ]
                )
    fold_sets: dict[tuple[str, ...], list[str]] = {}
    for peer, t in peers.items():
        ran = tuple(f for f in folds if f in t.index)
        if len(ran) > 1:  # a one-fold mean repeats that fold's row
            fold_sets.setdefault(ran, []).append(peer)
    for ran, names in sorted(fold_sets.items(), key=lambda kv: -len(kv[0])):
        label = (
            f"mean, {len(ran)} folds"
            if len(ran) == len(folds)
            else (f"mean, {len(ran)} of {len(folds)} folds ({', '.join(ran)})")
        )
        per_seed = seeds[seeds["holdout"].isin(ran)].groupby("seed")[COLS].mean()
        mean = per_seed.mean()
        out.append(
            [f"**{label}**", "scotm (default)", "3 seeds", "-"]
            + [_spread(mean[c], per_seed[c].min(), per_seed[c].max()) for c in COLS]
        )
        for peer in names:
            t = peers[peer].loc[list(ran)]
            out.append(
                [f"**{label}**", NAMES.get(peer, peer), "1 seed", _epochs(peers[peer], list(ran))]
                + [
                    f"{t[c].mean():.3f} {verdict(t[c].mean(), per_seed[c].min(), per_seed[c].max(), c)}"
                    for c in COLS
                ]
            )
    return out


def markdown(table: list[list]) -> str:
    head = ["holdout", "method", "seeds", "epochs", *COLS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", nargs="*", default=PEERS)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "default")
    parser.add_argument("--seeds-csv", type=Path, default=SEEDS_CSV)
    parser.add_argument(
        "--method", default="scotm", help="scotm's rows in --seeds-csv (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    seeds = scotm_seeds(args.seeds_csv, args.method)
    folds = list(seeds["holdout"].drop_duplicates())
    peers = load_peers(args.results, args.peers)
    missing = [NAMES.get(p, p) for p in args.peers if p not in peers]
    print(markdown(rows(seeds, peers, folds)))
    print(
        "\nscotm: mean of seeds 0-2 (min-max of the seeds). Peers: seed 0 only; win / loss: "
        "better / worse than every scotm seed, tie: inside scotm's seed range."
    )
    if missing:
        print(f"No results at the package defaults in {args.results}: {', '.join(missing)}.")


if __name__ == "__main__":
    main()
