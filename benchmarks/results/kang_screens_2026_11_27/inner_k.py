"""Ad-hoc screen: choose k per fold by inner validation on the training types (no held-out cells).

For each saved default fold model (/tmp/models, trained by transfer_ceiling.py at e5d0447, the
same networks as kang_seeds_balanced) and each k in KS, every training type's reference cells
get shifts transferred from the other training types' references (balanced weights), compared
with their own OT shifts (latent space): the relative error of the mean shift and the mean
per-cell cosine. The held-out fold is then predicted with each k and scored (pinned metrics).
"""
import logging
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, "benchmarks")
from kang_seeds import KANG_FOLDS  # noqa: E402

import scotm  # noqa: E402
from scotm import metrics, transport  # noqa: E402
from scotm.benchmark import Keys, holdout_split  # noqa: E402
from scotm.model import SCOTM  # noqa: E402

logging.disable(logging.WARNING)
KS = (10, 30, 100)
adata = scotm.pp.prepare(scotm.datasets.kang())
rows = []
for holdout in KANG_FOLDS:
    fold = holdout_split(adata, holdout, Keys())
    degs = metrics.top_degs(fold.ctrl, fold.real)
    for seed in (0, 1, 2):
        model = SCOTM.load(f"/tmp/models/{holdout.replace(' ', '_')}__{seed}")
        ref = model.references[model.perturbations[0]]
        codes, shifts, types = ref.codes.astype(np.float64), ref.shifts.astype(np.float64), ref.cell_types
        for k in KS:
            errs, coss = [], []
            for t in np.unique(types):
                own, rest = types == t, types != t
                pred = transport.transfer_shifts(
                    codes[own], codes[rest], shifts[rest], k,
                    ref_weights=transport.group_balance(types[rest]),
                )[0]
                m_pred, m_own = pred.mean(0), shifts[own].mean(0)
                errs.append(np.sum((m_pred - m_own) ** 2) / np.sum(m_own**2))
                num = np.sum(pred * shifts[own], 1)
                den = np.linalg.norm(pred, axis=1) * np.linalg.norm(shifts[own], axis=1) + 1e-12
                coss.append(np.mean(num / den))
            m = model.variant(k=k, neighbour_weights="balanced")
            row = {"holdout": holdout, "seed": seed, "k": k,
                   "inner_mean_err": float(np.mean(errs)), "inner_cos": float(np.mean(coss))}
            row.update(metrics.evaluate(fold.ctrl, fold.real, m.predict(fold.ctrl), degs))
            rows.append(row)
            print(row["holdout"], seed, k, round(row["inner_mean_err"], 4), round(row["inner_cos"], 4),
                  round(row["r2_mean_deg"], 3), round(row["delta_r_deg"], 3), flush=True)
        pd.DataFrame(rows).to_csv("benchmarks/results/kang_screens_2026_11_27/inner_k.csv", index=False)
