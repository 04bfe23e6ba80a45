"""The training schedule, set in optimiser steps (``scotm.train.runner.schedule``)."""

from __future__ import annotations

import numpy as np
import pytest

from scotm.train.runner import MAX_STEPS, Schedule, schedule


def _epoch_schedule(n_train, max_batch, target_steps, min_epochs, epochs):
    """The schedule before it was set in steps (commit 74c9113), written out independently."""
    batch_size = min(max_batch, max(16, n_train // 16))
    steps = max(1, n_train // batch_size)
    if epochs:
        return batch_size, steps, epochs
    return batch_size, steps, min(400, max(min_epochs, int(np.ceil(target_steps / steps))))


@pytest.mark.parametrize(("max_batch", "target", "min_epochs"), [(128, 1500, 10), (256, 3000, 3)])
def test_unchanged_wherever_the_epoch_floor_does_not_bind(max_batch, target, min_epochs):
    for n in [1, 20, 300, 792, 1000, 12_000, 16_893, 40_000, 100_000, 1_000_000]:
        before = _epoch_schedule(n, max_batch, target, min_epochs, None)
        binds = int(np.ceil(target / before[1])) < min_epochs
        now = schedule(n, max_batch, target, min_epochs, None)
        if not binds:
            assert now == Schedule(*before, None), n
        if before[1] * before[2] <= MAX_STEPS:  # also where it binds but fits the step cap
            assert now == Schedule(*before, None), n


def test_kang_fold_keeps_its_epochs():
    # a Kang fold: about 12k training cells, batch 128 -> 93 steps, 17 epochs, as before
    assert schedule(12_000, 128, 1500, 10, None) == Schedule(128, 93, 17, None)


def test_large_data_run_by_steps_with_validation_within_an_epoch():
    s = schedule(1_000_000, 128, 1500, 10, None)
    full_epoch = 1_000_000 // 128
    assert s.round_steps == s.steps == 150 < full_epoch  # validated every 150 steps
    assert MAX_STEPS - s.steps < s.steps * s.epochs <= MAX_STEPS  # not 10 x 7,812 steps
    s = schedule(1_000_000, 128, 1500, 10, None, max_steps=3000)
    assert (s.steps, s.epochs) == (150, 20)


def test_the_step_cap_only_acts_where_ten_epochs_cost_more():
    # 200k cells: 1,562 steps an epoch, the 10-epoch floor binds (15,620 > 10,000 steps)
    assert schedule(200_000, 128, 1500, 10, None).round_steps == 150
    assert schedule(200_000, 128, 1500, 10, None, max_steps=20_000).round_steps is None
    # an explicit epoch count is obeyed in full epochs
    assert schedule(1_000_000, 128, 1500, 10, 2) == Schedule(128, 7812, 2, None)


def test_a_real_fit_runs_by_steps_when_the_floor_would_cost_more(monkeypatch):
    import scotm
    from scotm.model import SCOTM
    from scotm.train.runner import Runner

    global_steps = []
    fit = Runner.fit

    def recording_fit(self, trainer, *args, **kwargs):
        fit(self, trainer, *args, **kwargs)
        global_steps.append(trainer.global_step)

    monkeypatch.setattr(Runner, "fit", recording_fit)

    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=600, n_genes=20), n_top_genes=None)
    # 10 epochs of the ~540 training cells would be 10 x 16 steps; max_steps=12 caps them,
    # in rounds of ceil(20 / 10) = 2 steps, each validated
    model = SCOTM(adata, hidden=8, n_latent=4, target_steps=20, max_steps=12, patience=100)
    model.train(progress=False)
    assert model.train_info["max_epochs"] == 6
    assert len(model.history) == 6  # six validated rounds of 2 steps, not 10 epochs
    assert global_steps == [12]
    full = SCOTM(adata, hidden=8, n_latent=4, target_steps=20, patience=100)
    full.train(progress=False)
    assert len(full.history) == 10  # today's floor: 10 full epochs
    assert global_steps[1] == 10 * (full.train_info["n_train_cells"] // 33)  # batch 540 // 16


def test_validation_split_is_capped_by_max_val_cells():
    """Large data validate on at most ``max_val_cells`` cells; small data keep their 10%."""
    import scotm
    from scotm.model import SCOTM

    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=600, n_genes=20), n_top_genes=None)
    capped = SCOTM(adata, hidden=8, n_latent=4, max_val_cells=25, max_epochs=1)
    capped.train(progress=False)
    assert capped.train_info["n_val_cells"] == 25
    assert capped.train_info["n_train_cells"] == adata.n_obs - 25
    default = SCOTM(adata, hidden=8, n_latent=4, max_epochs=1)
    default.train(progress=False)
    assert default.train_info["n_val_cells"] == 60  # 10% of 600, far below the cap
