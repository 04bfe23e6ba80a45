"""Training metrics logged once per epoch equal Lightning's per-step ``on_epoch`` means."""

from __future__ import annotations

import numpy as np
import pytest

import scotm
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM
from scotm.train import tasks

SETTINGS = {"hidden": (16,), "n_latent": 4, "max_epochs": 3, "num_threads": 1, "seed": 3}


def _per_step_logging(self, batch, batch_idx):
    """The task's training step before the change: ``self.log`` every step, epoch means."""
    return self._log(batch, self.log_train, on_step=False, on_epoch=True)["loss"]


@pytest.fixture(scope="module")
def fold():
    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=240, n_genes=30, seed=5), n_top_genes=None)
    return holdout_split(adata, "type2", Keys())


def _train(fold, **changes) -> SCOTM:
    return SCOTM(fold.train, **{**SETTINGS, **changes}).train(progress=False)


def test_epoch_means_equal_per_step_logging(fold, monkeypatch):
    now = _train(fold)
    with monkeypatch.context() as m:
        m.setattr(tasks.NetworkTask, "training_step", _per_step_logging)
        m.setattr(tasks.NetworkTask, "on_train_epoch_end", lambda self: None)
        before = _train(fold)
    assert len(now.history) == len(before.history) == SETTINGS["max_epochs"]
    for row_now, row_before in zip(now.history, before.history, strict=True):
        assert set(row_now) == set(row_before) >= {"train_loss", "train_recon", "train_reg"}
        for key, value in row_before.items():
            assert row_now[key] == value, key  # the same float32 sums, in the same order
    # the weights saw the same steps: identical predictions
    np.testing.assert_array_equal(now.predict(fold.ctrl).X, before.predict(fold.ctrl).X)


def test_every_epoch_has_its_own_training_metrics(fold):
    model = _train(fold, max_epochs=2)
    losses = [row["train_loss"] for row in model.history]
    assert len(losses) == 2 and all(np.isfinite(losses)) and losses[1] != losses[0]
