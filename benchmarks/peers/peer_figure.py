"""The peer table as a figure: every method, every Kang fold, with the seed spread.

Reads the same committed files as ``peer_table.py`` (scotm's default over its seeds, each
peer's seeds at its package defaults) and the two no-training baselines, ``pca_ot`` and
``mean_shift``, from ``benchmarks/results/kang_seeds/metrics.csv`` (deterministic: one row a
fold). One panel per score (r2_mean_deg, delta_r_deg, edist on a log scale); per fold and for
the mean over the 8 folds, a dot at the mean of a method's seeds and a bar from its worst to
its best seed; a mean below 0.3 is a triangle at the axis' floor. The mean over folds
follows ``peer_table.py``: each seed's 8-fold mean, only for seeds that ran all 8 folds.

    python benchmarks/peers/peer_figure.py [--out benchmarks/results/peers_figure]

writes ``peers.png`` and ``peers.pdf`` there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from peer_table import (  # noqa: E402
    COLS,
    HERE,
    NAMES,
    PEERS,
    SEEDS_CSV,
    load_peers,
    scotm_seeds,
    seed_means,
)

import scotm  # noqa: E402

BASELINES_CSV = HERE.parents[0] / "results" / "kang_seeds" / "metrics.csv"
LABELS = {
    "r2_mean_deg": "R² of the mean\n(top-100 DEGs)",
    "delta_r_deg": "response correlation\n(top-100 DEGs)",
    "edist": "energy distance\n(log; lower is better)",
}
#: r2 and correlation axes start here; a method's mean below it is a triangle at the floor
#: (CPA's weakest folds in delta_r_deg), so the gaps near 0.9-1.0 stay readable
FLOOR = 0.3
# scotm first and strongest; the peers in the colour-blind-safe palette; baselines in grey
COLOURS = ["#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#8C8C8C", "#BDBDBD"]


def spreads(t: pd.DataFrame, folds: list[str]) -> pd.DataFrame:
    """Mean, min and max over seeds per fold and score, plus a ``mean`` row over the folds
    (of :func:`peer_table.seed_means`: seeds that missed a fold are left out of it)."""
    per_fold = t.groupby("holdout")[COLS].agg(["mean", "min", "max"]).reindex(folds)
    per_seed = seed_means(t, folds)
    if not per_seed.empty:
        per_fold.loc["mean"] = per_seed.agg(["mean", "min", "max"]).T.stack()
    return per_fold


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results" / "default")
    parser.add_argument("--seeds-csv", type=Path, default=SEEDS_CSV)
    parser.add_argument("--baselines-csv", type=Path, default=BASELINES_CSV)
    parser.add_argument("--out", type=Path, default=HERE.parents[0] / "results" / "peers_figure")
    args = parser.parse_args(argv)

    ours = scotm_seeds(args.seeds_csv)
    folds = list(ours["holdout"].drop_duplicates())
    methods = {f"scotm ({ours['seed'].nunique()} seeds)": ours}
    for peer, t in load_peers(args.results, PEERS).items():
        methods[f"{NAMES[peer]} ({t['seed'].nunique()} seeds)"] = t
    base = pd.read_csv(args.baselines_csv)
    for name in ("pca_ot", "mean_shift"):
        methods[f"{name} (no training)"] = base[base["method"] == name].assign(seed=0)

    groups = [*folds, "mean"]
    x = np.arange(len(groups), dtype=float)
    width = 0.8 / len(methods)
    with plt.rc_context(scotm.pl.STYLE):
        fig, axes = plt.subplots(len(COLS), 1, figsize=(7.2, 7.0), sharex=True)
        for k, (label, t) in enumerate(methods.items()):
            s = spreads(t, folds).reindex(groups)
            pos = x + (k - (len(methods) - 1) / 2) * width
            for ax, col in zip(axes, COLS, strict=True):
                mean, lo, hi = (s[(col, a)].to_numpy(float) for a in ("mean", "min", "max"))
                ax.vlines(pos, lo, hi, color=COLOURS[k], lw=1.0)
                hollow = "no training" in label
                ax.plot(
                    pos,
                    mean,
                    "o",
                    ms=3.5,
                    color=COLOURS[k],
                    mfc="white" if hollow else COLOURS[k],
                    label=label if col == COLS[0] else None,
                )
                if col != "edist":  # below the axis: a triangle at its floor, not a lost dot
                    low = mean < FLOOR
                    ax.plot(
                        pos[low], np.full(low.sum(), FLOOR + 0.015), "v", ms=4, color=COLOURS[k]
                    )
        for ax, col in zip(axes, COLS, strict=True):
            ax.set_ylabel(LABELS[col])
            ax.axvline(len(folds) - 0.5, color="0.6", lw=0.6, ls=":")
            if col == "edist":
                ax.set_yscale("log")
            else:
                ax.set_ylim(FLOOR, 1.0)
        axes[-1].set_xticks(x)
        axes[-1].set_xticklabels(
            [
                g.replace(" Monocytes", "\nMonocytes").replace(" T cells", "\nT cells")
                for g in groups
            ]
        )
        fig.legend(loc="upper center", ncol=4, bbox_to_anchor=(0.5, 1.04))
        fig.tight_layout()
    for suffix in ("png", "pdf"):
        print(scotm.pl.save(fig, args.out / f"peers.{suffix}", dpi=200))


if __name__ == "__main__":
    main()
