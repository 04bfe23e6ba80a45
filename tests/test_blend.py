"""The small-data safeguard (scotm.model.blend): blending with a linear transfer."""

from __future__ import annotations

import numpy as np
import pytest

import scotm
from scotm import ScotmInputError
from scotm.baselines import MeanShift, PcaOT
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM, blend
from scotm.model.config import Settings

TINY = {"hidden": (16,), "n_latent": 4, "max_epochs": 2}


def _data(seed: int = 0):
    adata = scotm.datasets.toy(n_cells=320, n_genes=24, n_types=4, seed=seed)
    return scotm.pp.prepare(adata, n_top_genes=None)


@pytest.fixture(scope="module")
def fold():
    return holdout_split(_data(), "type1", Keys())


@pytest.fixture(scope="module")
def model(fold):
    return SCOTM(fold.train, **TINY).train(progress=False)


def test_settings_are_checked_in_one_line():
    assert Settings().blend == "none" and Settings().blend_weight is None
    assert Settings(blend="pca_ot", blend_weight="0.3").blend_weight == 0.3
    with pytest.raises(ScotmInputError, match=r"^setting blend must be one of 'none'") as e:
        Settings(blend="ridge")
    assert "\n" not in str(e.value)
    with pytest.raises(ScotmInputError, match=r"^setting blend_weight must be in \[0, 1\]"):
        Settings(blend_weight=1.5)
    with pytest.raises(ScotmInputError, match="blend_weight must be a number"):
        Settings(blend_weight="half")


def test_weight_one_is_the_model_alone(fold, model):
    plain = model.predict(fold.ctrl).X
    for kind in ("pca_ot", "mean_shift"):
        same = model.variant(blend=kind, blend_weight=1.0).predict(fold.ctrl).X
        np.testing.assert_array_equal(same, plain)


def test_weight_zero_is_the_linear_transfer_where_the_model_is_not_zero(fold, model):
    plain = np.asarray(model.predict(fold.ctrl).X)
    keys = Keys().as_kwargs()
    for kind, cls in (("mean_shift", MeanShift), ("pca_ot", PcaOT)):
        lin = np.asarray(cls(**keys).fit(fold.train).predict(fold.ctrl).X)
        got = model.variant(blend=kind, blend_weight=0.0).predict(fold.ctrl).X
        np.testing.assert_allclose(got, np.where(plain > 0, lin, 0), atol=2e-4)
        assert not np.allclose(got, plain, atol=1e-3)
    half = model.variant(blend="mean_shift", blend_weight=0.5).predict(fold.ctrl).X
    lin = MeanShift(**keys).fit(fold.train).predict(fold.ctrl).X
    np.testing.assert_allclose(half, 0.5 * plain + 0.5 * np.where(plain > 0, lin, 0), atol=2e-4)


def test_inner_validation_uses_training_types_only(fold, model):
    v = model.variant(blend="pca_ot")
    scores, types = blend.inner_scores(v, "stimulated")
    assert types == ["type0", "type2", "type3"] and scores.shape == (3, len(blend.GRID))
    w = blend.choose_weight(v, "stimulated")
    assert w in blend.GRID
    # the input of predict does not move the weight: fresh caches, other control cells
    v._blend = None
    v.predict(fold.ctrl[:5])
    assert blend.choose_weight(v, "stimulated") == w


def test_held_out_perturbed_cells_cannot_change_the_weight():
    adata = _data(seed=3)
    other = adata.copy()
    held = (other.obs["cell_type"] == "type1") & (other.obs["condition"] == "stimulated")
    rng = np.random.default_rng(0)
    X = other.X.toarray() if hasattr(other.X, "toarray") else np.array(other.X)
    X[held.to_numpy()] = rng.permutation(X[held.to_numpy()], axis=1) * 3.0
    other.X = X.astype(np.float32)
    weights = []
    for data in (adata, other):
        f = holdout_split(data, "type1", Keys())
        m = SCOTM(f.train, **TINY, blend="pca_ot").train(progress=False)
        weights.append(blend.choose_weight(m, "stimulated"))
        if len(weights) == 1:
            first = m.predict(f.ctrl).X
    assert weights[0] == weights[1]
    np.testing.assert_array_equal(m.predict(f.ctrl).X, first)


def test_chosen_weight_is_the_best_mean_score_ties_to_the_model(monkeypatch, model):
    v = model.variant(blend="mean_shift")
    rows = np.zeros((2, len(blend.GRID)))
    rows[:, 3] = 1.0  # weight 0.3 best on both types
    monkeypatch.setattr(blend, "inner_scores", lambda m, n: (rows, ["a", "b"]))
    v._blend = None
    assert blend.choose_weight(v, "stimulated") == pytest.approx(0.3)
    v._blend = None
    monkeypatch.setattr(blend, "inner_scores", lambda m, n: (np.ones((2, 11)), ["a", "b"]))
    assert blend.choose_weight(v, "stimulated") == 1.0
    v._blend = None
    monkeypatch.setattr(blend, "inner_scores", lambda m, n: (np.ones((1, 11)), ["a"]))
    assert blend.choose_weight(v, "stimulated") == blend.FALLBACK


def test_save_load_keeps_the_setting_and_the_blend(tmp_path, fold, model):
    v = model.variant(blend="pca_ot")
    before = v.predict(fold.ctrl).X
    v.save(tmp_path / "m")
    assert (tmp_path / "m" / blend.BLEND_FILE).exists()
    loaded = SCOTM.load(tmp_path / "m")
    assert loaded.settings.blend == "pca_ot" and loaded.adata is None
    np.testing.assert_allclose(loaded.predict(fold.ctrl).X, before, atol=1e-6)
    with pytest.raises(ScotmInputError, match="keeps no training cells") as e:
        loaded.variant(blend="mean_shift").predict(fold.ctrl)
    assert "\n" not in str(e.value)
    model.save(tmp_path / "plain")
    assert not (tmp_path / "plain" / blend.BLEND_FILE).exists()
    assert SCOTM.load(tmp_path / "plain").settings.blend == "none"
