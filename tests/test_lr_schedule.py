"""The learning-rate schedule (``lr_schedule``): constant, or a cosine down to 0 over the
planned optimiser steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scotm
from scotm import ScotmInputError
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM
from scotm.model.config import Settings
from scotm.train.tasks import autoencoder_task


def _rates(task, total: int) -> list[float]:
    """The learning rate before each of ``total`` optimiser steps, as the trainer plans them."""

    class _Trainer:  # only what configure_optimizers reads
        estimated_stepping_batches = total

    task._trainer = _Trainer()
    config = task.configure_optimizers()
    if isinstance(config, torch.optim.Optimizer):
        return [config.param_groups[0]["lr"]] * total
    opt, sched = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"  # per step, not per epoch
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cosine_decays_from_lr_to_zero_over_the_planned_steps():
    from scotm.module import VAEModule

    rates = _rates(autoencoder_task(VAEModule(6, (4,), 2), 1e-3, 0.0, 1.0, "cosine"), 100)
    assert rates[0] == pytest.approx(1e-3)
    assert rates[50] == pytest.approx(5e-4, rel=1e-6)  # half way: half the rate
    assert rates[-1] < 1e-6  # the last planned step: almost 0
    assert np.all(np.diff(rates) <= 0)  # never rises within the plan


def test_constant_is_the_default_and_keeps_the_rate():
    from scotm.module import VAEModule

    assert Settings().lr_schedule == "constant"
    rates = _rates(autoencoder_task(VAEModule(6, (4,), 2), 1e-3, 0.0, 1.0), 10)
    assert rates == [1e-3] * 10


def test_a_cosine_model_trains_saves_and_loads(tmp_path):
    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=300, n_genes=40, seed=3), n_top_genes=None)
    fold = holdout_split(adata, "type2", Keys())
    small = {"hidden": (16,), "n_latent": 4, "cell_prior": "none"}
    model = SCOTM(fold.train, **small, lr_schedule="cosine").train(max_epochs=3, progress=False)
    model.save(tmp_path / "m")
    again = SCOTM.load(tmp_path / "m")
    assert again.settings.lr_schedule == "cosine"
    np.testing.assert_allclose(again.predict(fold.ctrl).X, model.predict(fold.ctrl).X, atol=1e-5)


def test_an_unknown_schedule_is_one_clear_line():
    with pytest.raises(ScotmInputError) as info:
        Settings(lr_schedule="linear")
    msg = str(info.value)
    assert msg.startswith("setting lr_schedule must be") and "cosine" in msg
    assert "\n" not in msg
