"""Weight averaging (``ema_decay``): the network keeps, validates and saves an exponential
moving average of its weights, computed as the formula says, and round-trips on disk."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

import scotm
from scotm import ScotmInputError
from scotm.model import SCOTM, Settings
from scotm.train import runner as runner_mod

from ._synth import multi_drug_counts, synthetic_counts

SMALL = {"hidden": (16,), "n_latent": 4, "seed": 0, "num_threads": 1}


@pytest.fixture(scope="module")
def data():
    return scotm.pp.prepare(synthetic_counts(n_per=20, n_genes=40), n_top_genes=None)


class _Recorder(pl.Callback):
    """The network's raw weights after every optimiser step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []
        self.epochs: list[int] = []

    def on_train_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        self.steps.append({k: v.detach().clone() for k, v in task.module.state_dict().items()})
        self.epochs.append(int(trainer.current_epoch))


def _recording(monkeypatch) -> list[_Recorder]:
    """A recorder placed before each fit's averaging callback (one per network trained)."""
    recorders: list[_Recorder] = []
    real = runner_mod.averaging_callbacks

    def wrapped(decay):
        recorders.append(_Recorder())
        return [recorders[-1], *real(decay)]

    monkeypatch.setattr(runner_mod, "averaging_callbacks", wrapped)
    return recorders


def _ema(steps: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    ema = {k: v.clone() for k, v in steps[0].items()}  # the first step is copied
    for w in steps[1:]:
        for k in ema:
            ema[k] = decay * ema[k] + (1 - decay) * w[k]
    return ema


def test_kept_weights_are_the_ema_of_every_step(data, monkeypatch):
    decay = 0.9
    recorders = _recording(monkeypatch)
    model = SCOTM(data, **SMALL, ema_decay=decay).train(max_epochs=3, progress=False)
    steps = recorders[0].steps
    assert len(steps) > 5
    ema = _ema(steps, decay)
    kept = model.module.state_dict()
    for k, v in kept.items():
        assert torch.allclose(v, ema[k], atol=1e-6), k
    # ... and not the last weights, which a run without averaging keeps
    assert any(not torch.allclose(kept[k], steps[-1][k], atol=1e-4) for k in kept)
    plain = SCOTM(data, **SMALL).train(max_epochs=3, progress=False)
    for k, v in plain.module.state_dict().items():
        assert torch.equal(v, steps[-1][k]), k  # same seed, same steps: only the average differs


def test_validation_scores_the_averaged_weights(data):
    model = SCOTM(data, **SMALL, ema_decay=0.8).train(max_epochs=3, progress=False)
    assert len(model.history) == 3  # no early stop: the last validation saw the kept weights
    n = data.n_obs
    order = np.random.default_rng(0).permutation(n)
    val = np.sort(order[: int(round(n * 0.1))])
    X = data.X[val]
    x = torch.as_tensor(np.asarray(X.toarray() if hasattr(X, "toarray") else X, np.float32))
    with torch.no_grad():
        recon = model.module.batch_loss({"x": x, "cell_emb": None})["recon"]
    assert float(recon) == pytest.approx(model.history[-1]["val_recon"], rel=1e-5)


def test_save_and_load_reproduce_the_averaged_model(data, tmp_path):
    model = SCOTM(data, **SMALL, ema_decay=0.95).train(max_epochs=3, progress=False)
    ctrl = data[data.obs["condition"] == "control"].copy()
    model.save(tmp_path / "m")
    again = SCOTM.load(tmp_path / "m")
    assert again.settings.ema_decay == 0.95
    np.testing.assert_array_equal(model.predict(ctrl).X, again.predict(ctrl).X)


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "abc"])
def test_bad_decay_is_one_line(bad):
    with pytest.raises(ScotmInputError) as info:
        Settings(ema_decay=bad)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("setting ema_decay must be")


def test_decay_is_off_by_default_and_parsed_from_text():
    assert Settings().ema_decay is None
    assert Settings(ema_decay="0.99").ema_decay == 0.99
    assert Settings(ema_decay="none").ema_decay is None


def test_response_network_keeps_the_averaged_weights_of_its_best_epoch(monkeypatch):
    adata, emb = multi_drug_counts(n_drugs=6, seed=0)
    adata = scotm.pp.prepare(adata, n_top_genes=None)
    recorders = _recording(monkeypatch)
    decay = 0.7
    model = SCOTM(
        adata, perturbed=None, perturbation_embeddings=emb, ema_decay=decay, **SMALL
    ).train(max_epochs=6, progress=False)
    rec = recorders[1]  # the response network's fit
    best = model.train_info["response_best_epoch"]
    assert 0 <= best
    upto = [w for w, e in zip(rec.steps, rec.epochs, strict=True) if e <= best]
    expected = _ema(upto, decay)
    for k, v in model.response.state_dict().items():
        assert torch.allclose(v, expected[k], atol=1e-6), k


class _Interrupted(Exception):
    pass


class _Stop(pl.Callback):
    """Interrupts the fit when epoch ``at`` starts (the checkpoint of the one before exists)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_epoch_start(self, trainer, task) -> None:
        if trainer.current_epoch == self.at:
            raise _Interrupted("stopped by the test")


def test_a_resumed_run_continues_the_average(data, monkeypatch, tmp_path):
    decay, real = 0.9, runner_mod.averaging_callbacks
    steps: list[dict[str, torch.Tensor]] = []

    def interrupted(d):
        rec = _Recorder()
        rec.steps = steps
        return [rec, *real(d), _Stop(2)]

    monkeypatch.setattr(runner_mod, "averaging_callbacks", interrupted)
    ckpt = tmp_path / "c"
    with pytest.raises(_Interrupted):  # Lightning re-raises it after its teardown
        SCOTM(data, **SMALL, ema_decay=decay).train(
            max_epochs=4, progress=False, checkpoint_dir=ckpt
        )
    before = len(steps)
    assert before > 0 and (ckpt / "autoencoder" / "last.ckpt").exists()
    monkeypatch.setattr(runner_mod, "averaging_callbacks", real)  # no more stops
    recorders = _recording(monkeypatch)
    model = SCOTM(data, **SMALL, ema_decay=decay).train(
        max_epochs=4, progress=False, ckpt_path=ckpt
    )
    after = recorders[0].steps
    assert len(after) == before  # two epochs before the stop, two after it
    expected = _ema(steps + after, decay)  # one average over all four epochs
    for k, v in model.module.state_dict().items():
        assert torch.allclose(v, expected[k], atol=1e-6), k
