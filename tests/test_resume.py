"""Checkpoints and resume: a run killed with SIGKILL continues from its last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from scotm._errors import ScotmInputError
from scotm.model import SCOTM

from ._synth import synthetic_counts

SMALL = {"hidden": (16,), "n_latent": 4, "seed": 0}


def _prepared():
    import scotm

    return scotm.pp.prepare(synthetic_counts(n_per=20, n_genes=40), n_top_genes=None)


def test_checkpoints_do_not_change_training(tmp_path):
    """Checkpointing only writes: the same seed gives the same weights with or without it."""
    a = _prepared()
    plain = SCOTM(a, **SMALL).train(max_epochs=4, progress=False)
    saved = SCOTM(a, **SMALL).train(max_epochs=4, progress=False, checkpoint_dir=tmp_path / "c")
    first, second = plain.module.state_dict(), saved.module.state_dict()
    for k, v in first.items():
        assert np.array_equal(v.numpy(), second[k].numpy()), k
    assert (tmp_path / "c" / "autoencoder" / "last.ckpt").exists()
    assert (tmp_path / "c" / "autoencoder" / "done.pkl").exists()


def test_resume_refuses_other_data_and_stale_checkpoints(tmp_path):
    a = _prepared()
    SCOTM(a, **SMALL).train(max_epochs=2, progress=False, checkpoint_dir=tmp_path / "c")
    # a fresh run does not silently overwrite an earlier run's checkpoints
    with pytest.raises(ScotmInputError, match="holds checkpoints of an interrupted run"):
        SCOTM(a, **SMALL).train(max_epochs=2, progress=False, checkpoint_dir=tmp_path / "c")
    other = _prepared()[5:].copy()
    with pytest.raises(ScotmInputError, match="belong to another run"):
        SCOTM(other, **SMALL).train(progress=False, ckpt_path=tmp_path / "c")
    with pytest.raises(ScotmInputError, match="resume needs a checkpoint directory"):
        SCOTM(a, **SMALL).train(progress=False, resume=True)


def test_resume_of_a_finished_stage_gives_the_same_model(tmp_path):
    """A resume after the autoencoder finished reloads it and its OT pairing: same model."""
    a = _prepared()
    first = SCOTM(a, **SMALL).train(max_epochs=3, progress=False, checkpoint_dir=tmp_path / "c")
    again = SCOTM(a, **SMALL).train(max_epochs=3, progress=False, ckpt_path=tmp_path / "c")
    assert again.train_info["resumed"] is True
    assert again.history == first.history
    for p, q in zip(first.module.parameters(), again.module.parameters(), strict=True):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
    ref, ref2 = first.references["stimulated"], again.references["stimulated"]
    assert np.array_equal(ref.shifts, ref2.shifts)


def _train_cmd(data: Path, out: Path, *extra: str) -> list[str]:
    keys = ["--condition-key", "condition", "--control", "control", "--perturbed", "stimulated"]
    keys += ["--cell-type-key", "cell_type", "--n-top-genes", "60"]
    fast = ["--set", "hidden=[64,32]", "--set", "n_latent=8", "--set", "patience=1000"]
    fast += ["--max-epochs", "30", "--holdout", "C"]
    return [sys.executable, "-m", "scotm.cli", "-q", "train", "--data", str(data), *keys, *fast]


def _held_out_prediction(model_dir: Path, data: ad.AnnData) -> np.ndarray:
    import scotm

    model = SCOTM.load(model_dir)
    ctrl = data[(data.obs["condition"] == "control") & (data.obs["cell_type"] == "C")].copy()
    ctrl = scotm.pp.prepare(ctrl, n_top_genes=None)[:, list(model.var_names)].copy()
    return np.asarray(model.predict(ctrl).X).mean(axis=0)


def test_sigkill_then_resume_finishes_with_the_same_quality(tmp_path):
    """Kill `scotm train` with SIGKILL once a checkpoint exists, resume with --resume.

    Patience 1000 and 30 epochs make the run long enough to be killed mid-way. The resumed
    model's mean prediction for the held-out type correlates > 0.99 with an uninterrupted
    run's (the data order after the restart is drawn anew, so the bits differ).
    """
    raw = synthetic_counts(n_per=40, n_genes=80, seed=3)
    data = tmp_path / "data.h5ad"
    raw.write_h5ad(data)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    ref = subprocess.Popen([*_train_cmd(data, whole), "--out", str(whole)], env=env)
    run = subprocess.Popen([*_train_cmd(data, cut), "--out", str(cut)], env=env)
    last = tmp_path / "cut.checkpoints" / "autoencoder" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # killed as soon as the first epoch's checkpoint exists: 29 epochs are still to go
    assert run.poll() is None, "training finished before it could be interrupted"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert not cut.exists() and last.exists()
    assert not (last.parent / "done.pkl").exists()  # killed mid-training
    resumed = subprocess.run(
        [*_train_cmd(data, cut), "--out", str(cut), "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert ref.wait(timeout=120) == 0
    assert not (tmp_path / "cut.checkpoints").exists()  # removed after the save
    model = SCOTM.load(cut)
    assert model.train_info["resumed"] is True
    epochs = [row["epoch"] for row in model.history]
    assert epochs == list(range(30)), epochs  # every epoch once: none lost, none repeated
    a = _held_out_prediction(whole, raw)
    b = _held_out_prediction(cut, raw)
    assert np.corrcoef(a, b)[0, 1] > 0.99
