"""Progress is visible where work takes time: training epochs, OT, each fold, the report.

Log lines go through :mod:`logging` (logger ``scotm``); the CLI shows INFO on stderr,
``-q`` hides it and ``-v`` adds DEBUG (every epoch).
"""

from __future__ import annotations

import logging

import pytest

from scotm import SCOTM, pp
from scotm.benchmark import holdout_split
from scotm.cli import main
from scotm.datasets import toy

TINY = {"hidden": (16,), "n_latent": 4}


@pytest.fixture(scope="module")
def train():
    return holdout_split(pp.prepare(toy(n_cells=300, n_genes=60), n_top_genes=None), "type1").train


def test_training_logs_start_epochs_and_transport(train, caplog):
    with caplog.at_level(logging.DEBUG, logger="scotm"):
        model = SCOTM(train, **TINY).train(max_epochs=3, progress=False)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Training SCOTM on ") and "up to 3 epochs" in m for m in messages)
    epochs = [m for m in messages if m.strip().startswith("epoch ")]
    assert len(epochs) == model.train_info["epochs"] == 3
    assert epochs[0].strip().startswith("epoch 1/3: train_loss")
    assert any(m.startswith("Trained 3 epochs") for m in messages)
    assert any(m.startswith("Pairing control with perturbed codes (auto OT)") for m in messages)
    paired = [m for m in messages if m.startswith("Paired (auto OT): ")]
    assert paired and f"{len(model.reference.codes)} training control cells" in paired[0]


def test_epoch_lines_at_info_are_rate_limited(caplog):
    """Without a progress bar, epochs show at INFO, at most one line every ``every_s``."""
    from types import SimpleNamespace

    from scotm.train import History

    def epochs(history: History, n: int) -> list[int]:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="scotm"):
            for epoch in range(n):
                trainer = SimpleNamespace(
                    current_epoch=epoch,
                    max_epochs=n,
                    callback_metrics={"train_loss": 2.0, "val_loss": 1.5},
                    is_global_zero=True,
                    should_stop=False,
                )
                history.on_train_epoch_start(trainer, None)
                history.on_train_epoch_end(trainer, None)
        return [r.levelno for r in caplog.records]

    assert epochs(History(logging.INFO, every_s=0.0), 3) == [logging.INFO] * 3
    assert epochs(History(logging.INFO, every_s=1e9), 3) == [logging.DEBUG] * 3
    assert epochs(History(), 2) == [logging.DEBUG] * 2  # a progress bar shows the epochs
    assert "epoch 2/2: train_loss 2.0000, val_loss 1.5000" in caplog.records[-1].getMessage()


def test_cli_quiet_and_verbose(tmp_path, capsys):
    path = tmp_path / "toy.h5ad"
    toy(n_cells=300, n_genes=60).write_h5ad(path)
    base = ["train", "--data", str(path), "--holdout", "type0", "--max-epochs", "2"]
    base += ["--set", "hidden=[16]", "--set", "n_latent=4"]
    assert main(["-v", *base, "--out", str(tmp_path / "v")]) == 0
    verbose = capsys.readouterr().err
    assert "Training SCOTM on" in verbose and "up to 2 epochs" in verbose
    assert "  epoch 1/2: train_loss" in verbose  # DEBUG: every epoch
    assert "Paired (auto OT)" in verbose
    assert main(["-q", *base, "--out", str(tmp_path / "q")]) == 0
    quiet = capsys.readouterr().err
    assert "Training SCOTM" not in quiet and "Paired" not in quiet and "epoch 1/2" not in quiet
