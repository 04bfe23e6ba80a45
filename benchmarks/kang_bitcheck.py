"""Bit-for-bit check of a refactor on real Kang folds: predictions and metrics, one thread.

Run it on the code before and after a change (``PYTHONPATH=<old src>`` for the old one), then
compare: every prediction array must be ``np.array_equal`` and the metrics equal.

    OMP_NUM_THREADS=1 PYTHONPATH=/old/src python benchmarks/kang_bitcheck.py /tmp/before B,DC
    OMP_NUM_THREADS=1 python benchmarks/kang_bitcheck.py /tmp/after B,DC
    python benchmarks/kang_bitcheck.py --compare /tmp/before /tmp/after

scotm trains 2 epochs (``max_epochs=2``: the check is of the code path, not of accuracy);
``pca_ot`` is the baseline of EVALUATION.md. ``all`` as the fold list runs every fold.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

import scotm
from scotm.baselines import PcaOT
from scotm.benchmark import Keys, foldable_cell_types, holdout_split
from scotm.model import SCOTM


def run(out: str, folds: str) -> None:
    torch.set_num_threads(1)
    adata = scotm.pp.prepare(scotm.datasets.kang())
    holdouts = foldable_cell_types(adata, Keys()) if folds == "all" else folds.split(",")
    scores, arrays = {}, {}
    for h in holdouts:
        fold = holdout_split(adata, h, Keys())
        degs = scotm.metrics.top_degs(fold.ctrl, fold.real)
        for name in ("pca_ot", "scotm"):
            if name == "pca_ot":
                pred = PcaOT().fit(fold.train).predict(fold.ctrl)
            else:
                pred = SCOTM(fold.train, max_epochs=2).train(progress=False).predict(fold.ctrl)
            arrays[f"{h}_{name}"] = np.asarray(pred.X)
            scores[f"{h}_{name}"] = scotm.metrics.evaluate(fold.ctrl, fold.real, pred, degs)
            print(h, name, scores[f"{h}_{name}"], flush=True)
    np.savez(out + ".npz", **arrays)
    with open(out + ".json", "w") as f:
        json.dump(scores, f, indent=1)


def compare(a: str, b: str) -> bool:
    same = True
    with np.load(a + ".npz") as x, np.load(b + ".npz") as y:
        for key in x:
            equal = key in y and np.array_equal(x[key], y[key])
            print(f"{key}: {'bit-identical' if equal else 'DIFFERENT'}")
            same &= equal
    with open(a + ".json") as f, open(b + ".json") as g:
        equal = json.load(f) == json.load(g)
    print(f"metrics: {'equal' if equal else 'DIFFERENT'}")
    return same and equal


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(0 if compare(sys.argv[2], sys.argv[3]) else 1)
    run(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "B,DC")
