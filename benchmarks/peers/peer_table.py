"""One table: every peer at its package defaults, every Kang fold, beside scotm's seed spread.

Reads, without rerunning anything:
- ``benchmarks/peers/results/default/metrics_<peer>.csv`` (``score_predictions.py``'s output for
  the runs at each package's defaults; ``--results`` reads another folder);
- ``benchmarks/results/kang_seeds_beta05/metrics.csv``, method ``scotm``: scotm's default
  model with seeds 0 to 4 (BENCHMARKS.md, "A weaker MMD prior as the default");
  ``--seeds-csv`` reads another run.

Scotm's cells are the mean of its seeds with the min-max of the seeds in brackets. A peer's
seed 0 is ``metrics_<peer>.csv``; other seeds, where run (``run_peer.sh --seed N``), are
``seedN/metrics_<peer>.csv`` beside it. A peer with one seed shows one number; with more, the
mean and the min-max of its seeds. Its verdict against scotm is ``win`` when its worst seed is
better than scotm's best (higher r2_mean_deg and delta_r_deg; lower edist), ``loss`` when its
best seed is worse than scotm's worst, and ``tie`` when the two ranges overlap.

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
#: the current default's committed 5-seed run (BENCHMARKS.md, "A weaker MMD prior as the default")
SEEDS_CSV = HERE.parents[0] / "results" / "kang_seeds_beta05" / "metrics.csv"
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
    """Each peer's rows (``holdout, seed, ...``): seed 0 from ``results/metrics_<peer>.csv``,
    seed N from ``results/seedN/metrics_<peer>.csv``; peers without a seed-0 file left out."""
    out = {}
    for peer in peers:
        path = results / f"metrics_{peer}.csv"
        if not path.exists():
            continue
        parts = [pd.read_csv(path).assign(seed=0)]
        for other in sorted(results.glob(f"seed*/metrics_{peer}.csv")):
            parts.append(pd.read_csv(other).assign(seed=int(other.parent.name[4:])))
        out[peer] = pd.concat(parts, ignore_index=True)
    return out


def seed_means(t: pd.DataFrame, folds: list[str]) -> pd.DataFrame:
    """Each seed's mean of ``COLS`` over ``folds`` (one row per seed); a seed's mean counts
    only where that seed ran every one of these folds, so a seed missing one is left out."""
    t = t[t["holdout"].isin(folds)]
    whole = t.groupby("seed").filter(lambda g: len(g) == len(folds))
    return whole.groupby("seed")[COLS].mean()


def verdict(values: pd.Series, lo: float, hi: float, col: str) -> str:
    """``win`` / ``loss`` / ``tie`` of a peer's seeds against scotm's seed range [lo, hi]:
    every peer seed beyond scotm's best is a win, every one short of scotm's worst a loss."""
    if col in LOWER_IS_BETTER:
        better, worse = values.max() < lo, values.min() > hi
    else:
        better, worse = values.min() > hi, values.max() < lo
    return "win" if better else "loss" if worse else "tie"


def _peer_cell(values: pd.Series, lo: float, hi: float, col: str) -> str:
    """One seed: the value; several: mean (min-max); then the verdict."""
    text = (
        f"{values.iloc[0]:.3f}"
        if len(values) == 1
        else _spread(values.mean(), values.min(), values.max())
    )
    return f"{text} {verdict(values, lo, hi, col)}"


def _seeds_label(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"


def _spread(mean: float, lo: float, hi: float) -> str:
    return f"{mean:.3f} ({lo:.3f}-{hi:.3f})"


def _epochs(t: pd.DataFrame, folds: list[str]) -> str:
    if "epochs" not in t:
        return "?"
    e = t.loc[t["holdout"].isin(folds), "epochs"].dropna().astype(int)
    if e.empty:
        return "?"
    return str(e.iloc[0]) if e.nunique() == 1 else f"{e.min()}-{e.max()}"


def rows(seeds: pd.DataFrame, peers: dict[str, pd.DataFrame], folds: list[str]) -> list[list]:
    """Table rows: per fold scotm then each peer that ran it; then the mean block."""
    out = []
    n_seeds = f"{seeds['seed'].nunique()} seeds"
    for fold in folds:
        s = seeds[seeds["holdout"] == fold]
        if s.empty:
            continue
        agg = s[COLS].agg(["mean", "min", "max"])
        out.append(
            [fold, "scotm (default)", n_seeds, "-"]
            + [_spread(agg.at["mean", c], agg.at["min", c], agg.at["max", c]) for c in COLS]
        )
        for peer, t in peers.items():
            mine = t[t["holdout"] == fold]
            if not mine.empty:
                out.append(
                    [fold, NAMES.get(peer, peer), _seeds_label(len(mine)), _epochs(t, [fold])]
                    + [_peer_cell(mine[c], agg.at["min", c], agg.at["max", c], c) for c in COLS]
                )
    fold_sets: dict[tuple[str, ...], list[str]] = {}
    for peer, t in peers.items():
        ran = tuple(f for f in folds if f in set(t["holdout"]))
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
            [f"**{label}**", "scotm (default)", n_seeds, "-"]
            + [_spread(mean[c], per_seed[c].min(), per_seed[c].max()) for c in COLS]
        )
        for peer in names:
            peer_seeds = seed_means(peers[peer], list(ran))
            if peer_seeds.empty:  # no single seed ran all of them: no mean to show
                continue
            out.append(
                [
                    f"**{label}**",
                    NAMES.get(peer, peer),
                    _seeds_label(len(peer_seeds)),
                    _epochs(peers[peer], list(ran)),
                ]
                + [_peer_cell(peer_seeds[c], per_seed[c].min(), per_seed[c].max(), c) for c in COLS]
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
        "\nscotm: mean of its seeds (min-max of the seeds). Peers: seed 0, or the mean "
        "(min-max) of the seeds they ran; win / loss: every peer seed better / worse than every "
        "scotm seed, tie: the ranges overlap."
    )
    if missing:
        print(f"No results at the package defaults in {args.results}: {', '.join(missing)}.")


if __name__ == "__main__":
    main()
