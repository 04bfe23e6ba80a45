"""Blend-weight rules compared on recorded small-data runs (r2_mean_deg and delta_r_deg only).

Reads the ``means/*.npz`` that ``kang_fewshot.py --record`` and ``small_mcfaline.py --record``
write (see ``_blend_record.py``). Both headline metrics depend on per-gene means only and the
blend is linear in its weight, so every rule's metrics follow without predicting again. Rules,
each choosing the weight from the inner-validation scores on TRAINING types only:

- ``model``: weight 1 (the model alone); ``linear``: weight 0 (the masked linear transfer);
- ``argmax``: the grid weight with the best mean inner score (ties to the model; the rule in
  ``scotm.model.blend``);
- ``one_se``: the largest weight whose mean inner score is within one standard error (over the
  training types) of the best;
- ``half``: weight 0.5, a fixed blend.

A check: the ``model`` and ``argmax`` rows must reproduce the pinned-protocol metrics of
``scotm`` and ``scotm_blend_pca`` in ``metrics.csv`` (printed as the largest difference).

    python benchmarks/blend_rules.py DIR [DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

GRID = np.round(np.linspace(0.0, 1.0, 11), 2)


def rule_weight(rule: str, scores: np.ndarray) -> float:
    """The weight ``rule`` picks from inner scores (types x GRID)."""
    if rule in ("model", "linear", "half"):
        return {"model": 1.0, "linear": 0.0, "half": 0.5}[rule]
    if len(scores) < 2:
        return 1.0
    mean = scores.mean(0)
    best = len(GRID) - 1 - int(np.argmax(mean[::-1]))
    if rule == "argmax":
        return float(GRID[best])
    se = scores[:, best].std(ddof=1) / np.sqrt(len(scores))
    return float(GRID[np.flatnonzero(mean >= mean[best] - se).max()])


def metrics_of(m: np.ndarray, real: np.ndarray, ctrl: np.ndarray, degs: np.ndarray) -> tuple:
    a, b, c = m[degs], real[degs], ctrl[degs]
    return np.corrcoef(a, b)[0, 1] ** 2, np.corrcoef(a - c, b - c)[0, 1]


def table_of(directory: Path) -> pd.DataFrame:
    rows = []
    for f in sorted((directory / "means").glob("*.npz")):
        with np.load(f) as z:
            d = {k: z[k] for k in z.files}
        levels = sorted({k.split("|")[0] for k in d if "|" in k})
        for kind in ("pca_ot", "mean_shift"):
            scores = d[f"inner_{kind}"]
            for rule in ("model", "argmax", "one_se", "half", "linear"):
                w = rule_weight(rule, scores)
                for level in levels:
                    m = w * d[f"{level}|model"] + (1 - w) * d[f"{level}|{kind}"]
                    r2, dr = metrics_of(m, d["real"], d[f"{level}|ctrl"], d["degs"])
                    rows.append(
                        {"task": f.stem, "level": level, "kind": kind, "rule": rule,
                         "weight": w, "r2_mean_deg": r2, "delta_r_deg": dr}
                    )  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+")
    args = p.parse_args()
    for directory in map(Path, args.dirs):
        t = table_of(directory)
        if t.empty:
            continue
        print(f"== {directory} ({t['task'].nunique()} tasks)")
        g = t.groupby(["level", "kind", "rule"], sort=False)
        print(g[["weight", "r2_mean_deg", "delta_r_deg"]].mean().round(3).to_string())
        base = t[t["rule"] == "model"].set_index(["task", "level", "kind"])
        for rule in ("argmax", "one_se", "half", "linear"):
            other = t[t["rule"] == rule].set_index(["task", "level", "kind"])
            d = other["r2_mean_deg"] - base["r2_mean_deg"]
            won = d.groupby(level="kind").agg(lambda x: f"{(x > 1e-9).sum()}/{(x < -1e-9).sum()}")
            print(
                f"{rule}: r2_mean_deg better/worse than the model, tasks x levels:", won.to_dict()
            )
        print()


if __name__ == "__main__":
    main()
