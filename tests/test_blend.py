"""The small-data safeguard (scotm.model.blend): blending with a linear transfer."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import scotm
from scotm import ScotmInputError
from scotm.baselines import MeanShift, PcaOT
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM, blend
from scotm.model.config import Settings

TINY = {"hidden": (16,), "n_latent": 4, "max_epochs": 2}


def _data(seed: int = 0, n_types: int = 4):
    adata = scotm.datasets.toy(n_cells=80 * n_types, n_genes=24, n_types=n_types, seed=seed)
    return scotm.pp.prepare(adata, n_top_genes=None)


@pytest.fixture(scope="module")
def fold():
    return holdout_split(_data(), "type1", Keys())


@pytest.fixture(scope="module")
def model(fold):
    return SCOTM(fold.train, **TINY, blend="none").train(progress=False)


def _mean_moved(plain: np.ndarray, lin: np.ndarray, w: float) -> np.ndarray:
    """What the blend should give: the mean moved to w * model + (1 - w) * masked linear."""
    lin = np.where(plain > 0, lin, 0.0)
    on = plain > 0
    lift = (1 - w) * (lin.mean(0) - plain.mean(0)) / np.maximum(on.mean(0), 1 / len(plain))
    return np.where(on, np.clip(plain + lift, 0, None), 0.0)


def test_settings_are_checked_in_one_line():
    s = Settings()
    assert s.blend == "auto" and s.blend_weight is None and s.blend_validation == "refit"
    assert Settings(blend="pca_ot", blend_weight="0.3").blend_weight == 0.3
    with pytest.raises(ScotmInputError, match=r"^setting blend must be one of 'auto'") as e:
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


def test_the_mean_moves_to_the_linear_transfer_and_the_cells_keep_their_spread(fold, model):
    plain = np.asarray(model.predict(fold.ctrl).X, np.float64)
    keys = Keys().as_kwargs()
    for kind, cls in (("mean_shift", MeanShift), ("pca_ot", PcaOT)):
        lin = np.asarray(cls(**keys).fit(fold.train).predict(fold.ctrl).X, np.float64)
        for w in (0.0, 0.5):
            got = np.asarray(model.variant(blend=kind, blend_weight=w).predict(fold.ctrl).X)
            np.testing.assert_allclose(got, _mean_moved(plain, lin, w), atol=2e-4)
        assert not np.allclose(got, plain, atol=1e-3)
        # the model's zeros stay; where nothing clips, the cells' spread is the model's
        assert ((got == 0) == (plain == 0)).all()
        target = 0.5 * plain.mean(0) + 0.5 * np.where(plain > 0, lin, 0).mean(0)
        free = (got > 0).all(0) & (plain > 0).all(0)
        assert free.sum() > 5
        np.testing.assert_allclose(got.mean(0)[free], target[free], atol=2e-4)
        np.testing.assert_allclose(got.std(0)[free], plain.std(0)[free], atol=2e-4)
    # one cell alone gets the cell-by-cell mix
    one = np.asarray(model.variant(blend="mean_shift", blend_weight=0.5).predict(fold.ctrl[:1]).X)
    lin1 = np.asarray(MeanShift(**keys).fit(fold.train).predict(fold.ctrl[:1]).X)
    p1 = plain[:1]
    np.testing.assert_allclose(one, np.where(p1 > 0, 0.5 * p1 + 0.5 * lin1, 0), atol=2e-4)


def test_auto_blends_with_pca_ot_below_small_data_cells_only(model):
    n = model.train_info["n_train_cells"] + model.train_info["n_val_cells"]
    assert blend.kind_of(model.variant(blend="auto")) == "pca_ot"  # 320 cells < 5,000
    assert blend.kind_of(model.variant(blend="auto", small_data_cells=n)) == "none"
    assert blend.kind_of(model.variant(blend="auto", small_data_cells=n + 1)) == "pca_ot"
    assert blend.kind_of(model) == "none" and blend.pack(model) is None
    two = copy.copy(model.variant(blend="auto"))
    two.perturbations = ["stimulated", "other"]  # one weight per perturbation: too costly
    assert blend.kind_of(two) == "none"


def test_refit_with_too_few_types_keeps_the_model(fold, model):
    # three perturbed training types: an inner network would learn from one type alone
    v = model.variant(blend="auto")
    scores, types = blend.inner_scores(v, "stimulated")
    assert len(types) == 3 < blend.MIN_REFIT_TYPES and scores.shape == (0, len(blend.GRID))
    assert blend.choose_weight(v, "stimulated") == blend.FALLBACK
    np.testing.assert_array_equal(v.predict(fold.ctrl).X, model.predict(fold.ctrl).X)


def test_inner_validation_uses_training_types_only(fold, model):
    v = model.variant(blend="pca_ot", blend_validation="shared")
    scores, types = blend.inner_scores(v, "stimulated")
    assert types == ["type0", "type2", "type3"] and scores.shape == (3, len(blend.GRID))
    w = blend.choose_weight(v, "stimulated")
    assert w in blend.GRID
    # the input of predict does not move the weight: fresh caches, other control cells
    v._blend = None
    v.predict(fold.ctrl[:5])
    assert blend.choose_weight(v, "stimulated") == w


def test_refit_trains_each_group_without_its_perturbed_cells(monkeypatch):
    f = holdout_split(_data(n_types=5), "type1", Keys())
    model = SCOTM(f.train, **TINY, blend="none").train(1, progress=False)
    seen, caps = [], []  # (perturbed types, control types) and epoch cap of each inner training
    train = SCOTM.train

    def spy(self, *a, **kw):
        cond, types = self.design.conditions(self.adata), self.design.cell_types(self.adata)
        seen.append((set(types[cond == "stimulated"]), set(types[cond == "control"])))
        out = train(self, *a, **kw)
        caps.append(self.train_info["epoch_cap"])
        return out

    monkeypatch.setattr(SCOTM, "train", spy)
    v = model.variant(blend="pca_ot")  # blend_validation="refit", the default
    scores, types = blend.inner_scores(v, "stimulated")
    assert types == ["type0", "type2", "type3", "type4"] and scores.shape == (4, len(blend.GRID))
    assert np.isfinite(scores).all()
    # two groups dealt in order, {type0, type3} and {type2, type4}: each inner network keeps
    # the other group's perturbed cells; the held-out type1 is never perturbed in training
    assert [p for p, _ in seen] == [{"type2", "type4"}, {"type0", "type3"}]
    assert all(c == {f"type{i}" for i in range(5)} for _, c in seen)
    assert caps == [1, 1]  # the outer training's cap, train(1), not the setting (2)
    w = blend.choose_weight(v, "stimulated")  # its own inner round: two more trainings
    assert w in blend.GRID and len(seen) == 4
    assert blend.choose_weight(v, "stimulated") == w and len(seen) == 4  # then kept


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
        m = SCOTM(f.train, **TINY, blend="pca_ot", blend_validation="shared")
        m.train(progress=False)
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
    small = model.variant(blend="auto", blend_weight=0.5)  # auto: pca_ot at 320 cells
    before = small.predict(fold.ctrl).X
    small.save(tmp_path / "auto")
    loaded = SCOTM.load(tmp_path / "auto")
    assert loaded.settings.blend == "auto" and (tmp_path / "auto" / blend.BLEND_FILE).exists()
    np.testing.assert_allclose(loaded.predict(fold.ctrl).X, before, atol=1e-6)
