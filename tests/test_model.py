"""SCOTM on simulated data: it learns, it is reproducible, it saves safely, it refuses bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import scotm
from scotm import ScotmInputError, metrics
from scotm._manifest import write_manifest
from scotm.benchmark import Keys, holdout_split
from scotm.model import ABLATIONS, FORMAT_VERSION, SCOTM

from ._synth import PRED_TOL, toy_fold

FAST = {"hidden": (64, 32), "n_latent": 8, "target_steps": 600}


@pytest.fixture(scope="module")
def fold():
    return toy_fold()


@pytest.fixture(scope="module")
def trained(fold):
    return SCOTM(fold.train, **FAST).train(progress=False)


def test_predict_beats_identity_and_records_provenance(fold, trained):
    pred = trained.predict(fold.ctrl)
    assert pred.shape == fold.ctrl.shape
    assert list(pred.var_names) == list(fold.ctrl.var_names)
    assert (pred.obs_names == fold.ctrl.obs_names).all()
    assert pred.obsm["X_scotm"].shape == (fold.ctrl.n_obs, 8)
    info = pred.uns["scotm"]
    assert info["settings"]["prior"] == "mmd" and info["format_version"] == FORMAT_VERSION
    assert set(info["shift_sources"]) <= {"type0", "type1"}
    assert abs(sum(info["shift_sources"].values()) - 1) < 1e-6
    m = metrics.evaluate(fold.ctrl, fold.real, pred)
    ident = metrics.evaluate(fold.ctrl, fold.real, fold.ctrl)
    assert m["r2_mean_all"] > ident["r2_mean_all"]
    assert m["delta_r_all"] > 0.5
    assert m["edist"] < ident["edist"]


def test_same_seed_same_prediction(fold, trained):
    again = SCOTM(fold.train, **FAST).train(progress=False).predict(fold.ctrl)
    np.testing.assert_allclose(again.X, trained.predict(fold.ctrl).X, rtol=1e-6, atol=1e-6)


def test_history_and_early_stopping_split(fold, trained):
    assert trained.history and "val_loss" in trained.history[-1]
    info = trained.train_info
    assert info["n_train_cells"] + info["n_val_cells"] == fold.train.n_obs
    assert info["n_val_cells"] > 0


def test_save_load_roundtrip(tmp_path, fold, trained):
    trained.save(tmp_path / "m")
    loaded = SCOTM.load(tmp_path / "m")
    np.testing.assert_allclose(
        loaded.predict(fold.ctrl).X, trained.predict(fold.ctrl).X, **PRED_TOL
    )
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "blend.npz",  # the small-data blend ("auto", under 5,000 cells)
        "manifest.json",
        "scotm.json",
        "transport.npz",
        "weights.safetensors",
    ]
    with pytest.raises(ScotmInputError, match="keeps no training cells"):
        loaded.train()
    with pytest.raises(ScotmInputError, match="keeps no training cells"):
        loaded.variant(shift="mean")
    assert loaded.variant(k=5).settings.k == 5
    with pytest.raises(ScotmInputError, match="change training"):
        trained.variant(n_latent=3)
    with pytest.raises(ScotmInputError, match="exists"):
        trained.save(tmp_path / "m")
    trained.save(tmp_path / "m", overwrite=True)


def test_save_is_atomic(tmp_path, fold, trained, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(RuntimeError):
        trained.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_foreign_old_and_damaged(tmp_path, trained):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScotmInputError, match="not a saved scotm model"):
        SCOTM.load(tmp_path / "empty")
    trained.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "scotm.json").read_text())
    meta["format_version"] = 999
    (tmp_path / "m" / "scotm.json").write_text(json.dumps(meta))
    with pytest.raises(ScotmInputError, match=r"scotm.json has \d+ bytes, the manifest says"):
        SCOTM.load(tmp_path / "m")
    write_manifest(tmp_path / "m")  # as a future scotm would save it
    with pytest.raises(ScotmInputError, match="format 999"):
        SCOTM.load(tmp_path / "m")
    trained.save(tmp_path / "d")
    (tmp_path / "d" / "weights.safetensors").write_bytes(b"not weights")
    with pytest.raises(ScotmInputError, match=r"weights.safetensors has \d+ bytes, the manifest"):
        SCOTM.load(tmp_path / "d")
    write_manifest(tmp_path / "d")  # checksums match, the content is still not weights
    with pytest.raises(ScotmInputError, match="damaged or incompatible"):
        SCOTM.load(tmp_path / "d")
    (tmp_path / "d" / "manifest.json").unlink()
    with pytest.raises(ScotmInputError, match="has no manifest.json, which format 3 always"):
        SCOTM.load(tmp_path / "d")
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "scotm.json").write_text("{not json")
    with pytest.raises(ScotmInputError, match="corrupt"):
        SCOTM.load(tmp_path / "j")


def test_gene_mismatch_is_refused(fold, trained):
    with pytest.raises(ScotmInputError, match=r"3 of the model's 60 genes are missing"):
        trained.predict(fold.ctrl[:, 3:].copy())
    with pytest.raises(ScotmInputError, match="different order"):
        trained.predict(fold.ctrl[:, ::-1].copy())


def test_nan_is_refused_with_cell_count(fold, trained):
    bad = fold.ctrl.copy()
    X = bad.X.toarray()
    X[[0, 5], 2] = np.nan
    bad.X = X
    with pytest.raises(ScotmInputError, match="2 of"):
        trained.predict(bad)


def test_untrained_and_bad_settings():
    counts = scotm.datasets.toy(n_cells=60, n_genes=10)
    with pytest.raises(ScotmInputError, match=r"look like raw counts; .*scotm\.pp\.prepare"):
        SCOTM(counts)
    adata = scotm.pp.prepare(counts, n_top_genes=None)
    with pytest.raises(ScotmInputError, match="not trained"):
        SCOTM(adata).predict(adata)
    with pytest.raises(ScotmInputError, match="unknown setting"):
        SCOTM(adata, n_latnet=3)
    with pytest.raises(ScotmInputError, match="set it with argument perturbed"):
        SCOTM(adata, perturbed="IFN")


SHORT = {**FAST, "max_epochs": 3}


@pytest.fixture(scope="module")
def unbalanced(fold):
    """The training cells with type0 short of perturbed cells and type1 short of controls.

    On the toy's well-separated, balanced types one OT plan across types pairs each control
    with its own type anyway; here mass balance forces cross-type pairs, so coupling across
    types (``scotm_across``) must change the shifts.
    """
    ct = fold.train.obs["cell_type"].astype(str).to_numpy()
    cond = fold.train.obs["condition"].astype(str).to_numpy()
    drop = np.zeros(fold.train.n_obs, dtype=bool)
    for cell_type, condition in (("type0", "stimulated"), ("type1", "control")):
        idx = np.flatnonzero((ct == cell_type) & (cond == condition))
        drop[idx[: len(idx) // 2]] = True
    return fold.train[~drop].copy()


@pytest.fixture(scope="module")
def short_default(unbalanced):
    return SCOTM(unbalanced, **SHORT).train(progress=False)


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X)


# the toy genes are not gene symbols, so the default has no cell prior here and
# "scotm_noprior" changes nothing: tests/test_cell_prior.py covers it on symbols
@pytest.mark.parametrize("name", sorted(set(ABLATIONS) - {"scotm_noprior"}))
def test_ablations_run(fold, unbalanced, short_default, name):
    model = SCOTM(unbalanced, **SHORT, **ABLATIONS[name]).train(progress=False)
    for key, value in ABLATIONS[name].items():
        assert getattr(model.settings, key) == value
    pred = model.predict(fold.ctrl)
    X = _dense(pred.X)
    assert np.isfinite(X).all() and (X >= 0).all()
    # same seed and data: only the ablated part can make the prediction differ from the model's
    default = _dense(short_default.predict(fold.ctrl).X)
    if name == "scotm_similarity":
        # per-type weights change nothing where a cell's k neighbours all share one type, which
        # on the toy depends on the codes; with every reference cell a neighbour, every type
        # is among them, and the unbalanced types must weigh differently
        every = {"k": len(model.reference.codes)}
        X = _dense(model.variant(**every).predict(fold.ctrl).X)
        default = _dense(short_default.variant(**every).predict(fold.ctrl).X)
    assert np.abs(X - default).max() > 1e-4, f"{name} predicts what the full model predicts"
    if name == "scotm_single":
        shift = pred.obsm["X_scotm_shifted"] - pred.obsm["X_scotm"]
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-5)
    ref = model.reference
    if name == "scotm_meanshift":  # one shift per training type, not one per cell
        for t in set(ref.cell_types):
            shifts = ref.shifts[ref.cell_types == t]
            np.testing.assert_allclose(shifts, np.broadcast_to(shifts[0], shifts.shape), atol=1e-5)
    else:  # the OT shifts vary from cell to cell
        assert ref.shifts.std(0).max() > 1e-3


def test_tiny_cell_types_work():
    adata = scotm.pp.prepare(
        scotm.datasets.toy(n_cells=72, n_genes=30, n_types=3), n_top_genes=None
    )
    f = holdout_split(adata, "type1", Keys())
    assert f.ctrl.n_obs == 12
    model = SCOTM(f.train, **{**FAST, "max_epochs": 2}).train(progress=False)
    pred = model.predict(f.ctrl)
    assert list(pred.obs_names) == list(f.ctrl.obs_names)
    assert list(pred.var_names) == list(f.ctrl.var_names)
    X, ctrl = _dense(pred.X), _dense(f.ctrl.X)
    assert np.isfinite(X).all() and (X >= 0).all()
    # a response was predicted: every cell moved, not the controls handed back
    assert (np.abs(X - ctrl).max(1) > 1e-3).all()
    sources = pred.uns["scotm"]["shift_sources"]
    assert set(sources) <= {"type0", "type2"} and abs(sum(sources.values()) - 1) < 1e-6
