"""Several networks as one model (``members``): each cell predicted by one member, saved whole."""

from __future__ import annotations

import json

import numpy as np
import pytest

import scotm
from scotm import ScotmInputError
from scotm.model import SCOTM
from scotm.model.members import SEED_STRIDE, assign

from ._synth import PRED_TOL, RERUN_TOL, toy_fold

FAST = {"hidden": (64, 32), "n_latent": 8, "target_steps": 400}


@pytest.fixture(scope="module")
def fold():
    return toy_fold(seed=3)


# without the small-data blend, which moves the mean of the members' mixed prediction
@pytest.fixture(scope="module")
def pair(fold):
    return SCOTM(fold.train, members=2, blend="none", **FAST).train(progress=False)


@pytest.fixture(scope="module")
def single(fold):
    return SCOTM(fold.train, blend="none", **FAST).train(progress=False)


def test_each_cell_comes_from_one_member(fold, pair, single):
    (sib,) = pair.siblings
    assert sib.settings.seed == SEED_STRIDE and sib.settings.members == 1 and sib.is_trained
    who = assign(fold.ctrl.obs_names, 2, seed=0)
    assert 0 < who.sum() < len(who)  # both members predict some cells
    X = pair.predict(fold.ctrl).X
    # member 0 is the one-network model of the same seed
    np.testing.assert_allclose(X[who == 0], single.predict(fold.ctrl).X[who == 0], **PRED_TOL)
    np.testing.assert_allclose(X[who == 1], sib.predict(fold.ctrl).X[who == 1], **PRED_TOL)
    assert not np.allclose(X[who == 1], single.predict(fold.ctrl).X[who == 1], **PRED_TOL)
    assert "2 networks" in repr(pair)


def test_a_cell_goes_to_the_same_member_in_any_order_or_subset(fold, pair):
    names = fold.ctrl.obs_names
    np.testing.assert_array_equal(assign(names[::-1], 2)[::-1], assign(names, 2))
    np.testing.assert_array_equal(assign(names[:7], 2), assign(names, 2)[:7])
    # so, without the blend (which moves the mean of the cells it is given), a cell's
    # prediction does not depend on the others (up to float rounding in batches)
    X = pair.predict(fold.ctrl).X
    back = pair.predict(fold.ctrl[::-1].copy()).X
    np.testing.assert_allclose(back[::-1], X, **RERUN_TOL)
    some = pair.predict(fold.ctrl[:7].copy()).X
    np.testing.assert_allclose(some, X[:7], **RERUN_TOL)


def test_save_load_keeps_every_member(tmp_path, fold, pair):
    pair.save(tmp_path / "m")
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert "member1.weights.safetensors" in names and "member1.transport.npz" in names
    loaded = SCOTM.load(tmp_path / "m")
    assert len(loaded.siblings) == 1 and loaded.siblings[0].settings.seed == SEED_STRIDE
    np.testing.assert_allclose(loaded.predict(fold.ctrl).X, pair.predict(fold.ctrl).X, **PRED_TOL)
    v = loaded.variant(k=5)
    assert v.siblings[0].settings.k == 5 and loaded.siblings[0].settings.k == 30


def test_a_saved_model_missing_a_member_is_refused(tmp_path, pair):
    pair.save(tmp_path / "m")
    meta_file = tmp_path / "m" / "scotm.json"
    meta = json.loads(meta_file.read_text())
    meta["settings"]["members"] = 3  # says three, holds two
    meta_file.write_text(json.dumps(meta))
    from scotm._manifest import write_manifest

    write_manifest(tmp_path / "m")
    with pytest.raises(ScotmInputError, match="3 members by the settings, 2 saved"):
        SCOTM.load(tmp_path / "m")


def test_checkpoints_keep_each_member_apart(tmp_path, fold, pair):
    ckpt = tmp_path / "ckpt"
    SCOTM(fold.train, members=2, **FAST).train(progress=False, checkpoint_dir=ckpt)
    assert (ckpt / "member1").is_dir()
    resumed = SCOTM(fold.train, members=2, **FAST).train(progress=False, ckpt_path=ckpt)
    np.testing.assert_allclose(resumed.predict(fold.ctrl).X, pair.predict(fold.ctrl).X, **RERUN_TOL)


def test_bad_member_count_is_one_line():
    with pytest.raises(ScotmInputError, match="members must be greater than 0"):
        SCOTM(scotm.datasets.toy(n_cells=60, n_genes=10), members=0)


def test_one_network_by_default(single):
    assert SCOTM(single.adata).settings.members == 1 and single.siblings == []
    assert "networks" not in repr(single)
