"""The condition-aware network (``network="cvae"``, the trVAE idea) on tiny synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import scotm
from scotm import metrics
from scotm.benchmark import Keys
from scotm.model import SCOTM
from scotm.model.conditional import condition_index, condition_vector
from scotm.module import CondAEModule, VAEModule, group_mmd

from ._synth import toy_fold

FAST = {"hidden": (64, 32), "n_latent": 8, "target_steps": 600, "network": "cvae"}


@pytest.fixture(scope="module")
def fold():
    return toy_fold()


@pytest.fixture(scope="module")
def trained(fold):
    return SCOTM(fold.train, **FAST).train(progress=False)


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X)


def test_cvae_trains_and_predicts_better_than_identity(fold, trained):
    assert isinstance(trained.module, CondAEModule) and trained.module.n_conditions == 2
    pred = trained.predict(fold.ctrl)
    X = _dense(pred.X)
    assert X.shape == fold.ctrl.shape and np.isfinite(X).all() and (X >= 0).all()
    m = metrics.evaluate(fold.ctrl, fold.real, pred)
    ident = metrics.evaluate(fold.ctrl, fold.real, fold.ctrl)
    assert m["r2_mean_all"] > ident["r2_mean_all"] and m["delta_r_all"] > 0.5
    # the decoder alone (no latent shift) still predicts a response
    alone = metrics.evaluate(
        fold.ctrl, fold.real, trained.variant(shift_scale=0.0).predict(fold.ctrl)
    )
    assert alone["delta_r_all"] > 0.3


def test_condition_changes_the_decoding(fold, trained):
    z = torch.from_numpy(trained.get_latent(fold.ctrl).astype(np.float32))
    with torch.no_grad():
        ctrl = trained.module.decode(z, torch.eye(2)[[0] * len(z)])
        stim = trained.module.decode(z, torch.eye(2)[[1] * len(z)])
        default = trained.module.decode(z)
    assert (stim - ctrl).abs().mean() > 1e-2
    torch.testing.assert_close(default, ctrl)  # no condition: control
    # the training cells get their conditions: control 0, the perturbation 1
    cond = condition_index(trained, fold.train)
    is_ctrl = fold.train.obs["condition"].to_numpy() == "control"
    assert (cond[is_ctrl] == 0).all() and (cond[~is_ctrl] == 1).all()
    np.testing.assert_array_equal(condition_vector(trained, "stimulated"), [0, 1])


def test_group_mmd_is_zero_for_one_condition_and_positive_between_distinct_ones():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(40, 3, generator=g)
    assert float(group_mmd(h, torch.zeros(40, dtype=torch.long))) == 0.0
    cond = torch.tensor([0] * 20 + [1] * 20)
    shifted = h + 3.0 * cond[:, None]
    assert float(group_mmd(shifted, cond)) > float(group_mmd(h, cond)) + 0.1


def test_cvae_save_load_roundtrip(tmp_path, fold, trained):
    trained.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "scotm.json").read_text())
    assert meta["networks"]["module"] == "cvae"
    assert meta["settings"]["network"] == "cvae" and meta["settings"]["cond_mmd_on"] == "decoder"
    loaded = SCOTM.load(tmp_path / "m")
    assert isinstance(loaded.module, CondAEModule)
    np.testing.assert_array_equal(loaded.predict(fold.ctrl).X, trained.predict(fold.ctrl).X)


@pytest.mark.parametrize(
    "changes", [{"cond_mmd_on": "latent"}, {"cond_layers": "all"}, {"cond_mmd": 0.0}]
)
def test_cvae_options_train(fold, changes):
    model = SCOTM(fold.train, **{**FAST, "target_steps": 50}, **changes).train(progress=False)
    assert np.isfinite(_dense(model.predict(fold.ctrl).X)).all()
    if changes.get("cond_layers") == "all":
        # every decoder layer sees the 2 conditions: code 8 + 2, hidden 32 + 2
        assert [b[0].in_features for b in model.module.blocks] == [10, 34]
    else:
        assert [b[0].in_features for b in model.module.blocks] == [10, 32]


def test_several_perturbations_one_condition_each(fold):
    adata = scotm.datasets.toy(n_cells=600, n_genes=40, seed=2)
    cond = adata.obs["condition"].astype(str).to_numpy().copy()
    stim = np.flatnonzero(cond == "stimulated")
    cond[stim[::2]] = "other"
    adata.obs["condition"] = cond
    adata = scotm.pp.prepare(adata, n_top_genes=None)
    model = SCOTM(adata, perturbed=None, **{**FAST, "target_steps": 50}).train(progress=False)
    assert model.module.n_conditions == 3
    ctrl = adata[adata.obs["condition"] == "control"].copy()
    a = _dense(model.predict(ctrl, "stimulated").X)
    b = _dense(model.predict(ctrl, "other").X)
    assert np.abs(a - b).max() > 1e-4
    np.testing.assert_array_equal(condition_vector(model, "other+stimulated"), [0, 1, 1])


def test_the_vae_ignores_conditions(fold):
    model = SCOTM(fold.train, **{**FAST, "network": "vae", "max_epochs": 1})
    assert type(model.module) is VAEModule and condition_index(model, fold.train) is None


def test_faithful_method_is_registered_and_runs(fold):
    from scotm.benchmark.methods import method_changes, method_factories
    from scotm.model import FAITHFUL

    expect = {"network": "vae", "shift_scale": 1.0, "cell_prior": "none"}
    expect.update(output_activation="relu", zero_below=0.0, neighbour_weights="similarity")
    expect.update(beta=1.0)  # the prior's weight of the published path (the default is 0.5)
    assert method_changes("scotm_faithful") == FAITHFUL == expect
    method = method_factories()["scotm_faithful"](Keys())
    method.settings = {**method.settings, "hidden": (16,), "n_latent": 4, "max_epochs": 2}
    pred = method.fit(fold.train).predict(fold.ctrl)
    assert type(method.model.module) is VAEModule and pred.shape == fold.ctrl.shape
    for name in ("scotm_cvae", "scotm_cdecoder"):
        assert method_changes(name)["network"] == "cvae"


def test_a_model_saved_before_these_settings_loads_as_written():
    from pathlib import Path

    path = Path(__file__).parent / "data" / "saved_v2" / "plain"
    assert "shift_scale" not in json.loads((path / "scotm.json").read_text())["settings"]
    model = SCOTM.load(path)
    assert model.settings.network == "vae" and model.settings.shift_scale == 1.0
    assert model.settings.neighbour_weights == "similarity"  # the weights it was saved with
    assert type(model.module) is VAEModule
