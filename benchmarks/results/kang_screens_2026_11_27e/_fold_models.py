"""The loop the scripts here share: each Kang fold's saved model, its held-out control cells'
codes and the default's transferred shifts (balanced neighbour weights), as the model
predicts them. Models are those ``transfer_ceiling.py --models DIR`` saves (DIR/<fold>__<seed>).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import scotm
from scotm import metrics, transport
from scotm._arrays import dense64
from scotm.benchmark import Keys, holdout_split
from scotm.design import Fold
from scotm.model import SCOTM
from scotm.model import predict as P

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kang_seeds import KANG_FOLDS  # noqa: E402


@dataclass
class FoldModel:
    holdout: str
    seed: int
    fold: Fold
    degs: list[str]
    model: SCOTM
    codes: np.ndarray  # the reference's control codes
    shifts: np.ndarray  # and their OT shifts
    z: np.ndarray  # the held-out control cells' codes
    shift: np.ndarray  # their transferred shifts (the default's)
    idx: np.ndarray  # each cell's neighbours among the reference cells
    w: np.ndarray  # and their weights
    base: np.ndarray  # D(z)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return P.decode(self.model.module, z)

    def real_change(self) -> tuple[np.ndarray, np.ndarray]:
        """The DEGs' indices and the real mean change over them (reads the perturbed cells)."""
        gi = self.fold.ctrl.var_names.get_indexer(self.degs)
        return gi, dense64(self.fold.real.X).mean(0)[gi] - dense64(self.fold.ctrl.X).mean(0)[gi]


def fold_models(models: str, seeds, folds=KANG_FOLDS) -> Iterator[FoldModel]:
    torch.set_num_threads(1)
    adata = scotm.pp.prepare(scotm.datasets.kang())
    for holdout in folds:
        fold = holdout_split(adata, holdout, Keys())
        degs = metrics.top_degs(fold.ctrl, fold.real)
        for seed in seeds:
            model = SCOTM.load(f"{models}/{holdout.replace(' ', '_')}__{seed}")
            model = model.variant(neighbour_weights="balanced")
            ref = model.references["stimulated"]
            codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
            z = model.get_latent(fold.ctrl)
            shift, idx, w = transport.transfer_shifts(
                z, codes, shifts, model.settings.k, per_cell=True,
                ref_weights=transport.group_balance(ref.cell_types),
            )  # fmt: skip
            base = P.decode(model.module, z)
            yield FoldModel(holdout, seed, fold, degs, model, codes, shifts, z, shift, idx, w, base)
