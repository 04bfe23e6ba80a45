"""Several perturbations in one model, prior embeddings that enter it, unseen perturbations."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

import scotm
from scotm import ScotmInputError, transport
from scotm._manifest import write_manifest
from scotm.model import SCOTM

from ._synth import COPY_TOL, PRED_TOL, multi_drug_counts

FAST = {"hidden": (64, 32), "n_latent": 8, "target_steps": 600, "num_threads": 1}
TINY = {"hidden": (32, 16), "n_latent": 4, "max_epochs": 3, "num_threads": 1}
HELD_OUT = "drug8"


def _dense(a) -> np.ndarray:
    return np.asarray(a.X.toarray() if hasattr(a.X, "toarray") else a.X)


def _delta(cells, ctrl) -> np.ndarray:
    return _dense(cells).mean(0) - _dense(ctrl).mean(0)


@pytest.fixture(scope="module")
def drugs():
    adata, emb = multi_drug_counts(n_drugs=9, seed=0)
    adata = scotm.pp.prepare(adata, n_top_genes=None)
    cond = adata.obs["condition"].astype(str).to_numpy()
    # a stand-in cell embedding: the cell type, one-hot, plus noise
    rng = np.random.default_rng(0)
    onehot = pd.get_dummies(adata.obs["cell_type"]).to_numpy(dtype=np.float32)
    adata.obsm["X_cell"] = onehot + rng.normal(0, 0.1, onehot.shape).astype(np.float32)
    train = adata[cond != HELD_OUT].copy()  # the held-out drug never enters training
    return adata, train, emb


@pytest.fixture(scope="module")
def model(drugs):
    _, train, emb = drugs
    return SCOTM(
        train,
        perturbed=None,
        perturbation_embeddings=emb,  # all 9, the held-out drug's included
        perturbation_embedding_source="toy 3-d",
        response_target_steps=1500,
        **FAST,
    ).train(progress=False)


def _ctrl(adata):
    return adata[(adata.obs["condition"] == "control").to_numpy()].copy()


def test_perturbed_none_list_and_single(drugs, model):
    adata, train, emb = drugs
    assert model.perturbations == [f"drug{j}" for j in range(8)]
    assert sorted(model.references) == model.perturbations
    # each perturbation is coupled within each cell type: every control cell has a shift
    n_ctrl = int((train.obs["condition"] == "control").sum())
    assert all(len(r.codes) == n_ctrl for r in model.references.values())
    some = SCOTM(adata, perturbed=["drug0", "drug1"], **TINY)
    assert set(some.adata.obs["condition"]) == {"control", "drug0", "drug1"}
    assert some.keys["perturbed"] == ["drug0", "drug1"]
    with pytest.raises(ScotmInputError, match="label 'drugZ' not found"):
        SCOTM(adata, perturbed=["drug0", "drugZ"])
    with pytest.raises(ScotmInputError, match="control label"):
        SCOTM(adata, perturbed=["drug0", "control"])


def test_training_perturbations_need_embeddings(drugs):
    _, train, emb = drugs
    partial = {k: v for k, v in emb.items() if k != "drug3"}
    with pytest.raises(ScotmInputError, match=r"no vector for 1 training perturbation.*drug3"):
        SCOTM(train, perturbed=None, perturbation_embeddings=partial)
    bad = dict(emb, drug2=np.array([np.nan, 0.0, 1.0]))
    with pytest.raises(ScotmInputError, match="NaN"):
        SCOTM(train, perturbed=None, perturbation_embeddings=bad)
    with pytest.raises(ScotmInputError, match="different widths"):
        SCOTM(train, perturbed=None, perturbation_embeddings=dict(emb, drug2=np.zeros(4)))
    table = pd.DataFrame(np.vstack(list(emb.values())), index=list(emb))
    assert SCOTM(train, perturbed=None, perturbation_embeddings=table).perturbation_embedding


def test_seen_drug_is_transferred_with_one_call(drugs, model, monkeypatch):
    adata, _, _ = drugs
    calls = []
    real_transfer = transport.transfer_shifts

    def counting(*args, **kwargs):
        calls.append(1)
        return real_transfer(*args, **kwargs)

    monkeypatch.setattr(transport, "transfer_shifts", counting)
    ctrl = _ctrl(adata)
    pred = model.predict(ctrl, perturbation="drug3")
    assert len(calls) == 1
    info = pred.uns["scotm"]
    assert info["perturbation"] == "drug3" and info["extrapolated"] is False
    assert info["shift_from"] == "transfer"
    assert abs(sum(info["shift_sources"].values()) - 1) < 1e-6
    real = adata[(adata.obs["condition"] == "drug3").to_numpy()]
    assert np.corrcoef(_delta(pred, ctrl), _delta(real, ctrl))[0, 1] > 0.7
    with pytest.raises(ScotmInputError, match="knows 8 perturbations"):
        model.predict(ctrl)


@pytest.mark.parametrize("source", ["auto", "ridge", "response"])
def test_unseen_drug_from_its_embedding(drugs, model, caplog, source):
    adata, _, emb = drugs
    ctrl = _ctrl(adata)
    with caplog.at_level(logging.WARNING, logger="scotm"):
        pred = model.predict(ctrl, perturbation=HELD_OUT, source=source)
    assert "extrapolating" in caplog.text
    info = pred.uns["scotm"]
    # an unseen perturbation goes the ridge route unless the response network is asked for
    expected = "response" if source == "response" else "ridge"
    assert info["extrapolated"] is True and info["shift_from"] == expected
    real = adata[(adata.obs["condition"] == HELD_OUT).to_numpy()]
    truth = _delta(real, ctrl)
    r_model = np.corrcoef(_delta(pred, ctrl), truth)[0, 1]
    # the baseline that ignores the embedding: the mean response of the training drugs
    cond = adata.obs["condition"].astype(str).to_numpy()
    mean_resp = np.mean([_delta(adata[cond == d], ctrl) for d in model.perturbations], axis=0)
    r_mean = np.corrcoef(mean_resp, truth)[0, 1]
    assert r_model > 0.5 and r_model > r_mean
    # the same vector passed explicitly gives the same prediction
    again = model.predict(ctrl, HELD_OUT, perturbation_embedding=emb[HELD_OUT], source=source)
    np.testing.assert_allclose(again.X, pred.X, **PRED_TOL)
    # another embedding gives another prediction: the embedding really drives the shift
    other = model.predict(ctrl, HELD_OUT, perturbation_embedding=-emb[HELD_OUT], source=source)
    assert not np.allclose(other.X, pred.X)
    # a seen drug can be asked of the response network too
    assert model.predict(ctrl, "drug1", source="response").uns["scotm"]["shift_from"] == "response"


def test_unseen_drug_errors(drugs, model):
    adata, train, _ = drugs
    ctrl = _ctrl(adata)
    with pytest.raises(ScotmInputError, match="no embedding for perturbation 'drugX'"):
        model.predict(ctrl, "drugX")
    with pytest.raises(ScotmInputError, match="width 5 but the model was trained with width 3"):
        model.predict(ctrl, "drugX", perturbation_embedding=np.zeros(5))
    with pytest.raises(ScotmInputError, match="NaN"):
        model.predict(ctrl, "drugX", perturbation_embedding=np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ScotmInputError, match="no OT shifts"):
        model.predict(ctrl, HELD_OUT, source="transfer")
    plain = SCOTM(train, perturbed=["drug0", "drug1"], **TINY).train(progress=False)
    with pytest.raises(ScotmInputError, match="no response network"):
        plain.predict(ctrl, "drug5")
    assert plain.response is None


def test_cell_embedding_enters_the_encoder(drugs):
    adata, train, _ = drugs
    m = SCOTM(train, perturbed=["drug0"], cell_embedding_key="X_cell", **TINY)
    init = m.module.cell_proj.weight.detach().clone()
    m.train(progress=False)
    # the projection is learned, not frozen noise
    assert not np.allclose(m.module.cell_proj.weight.detach().numpy(), init.numpy())
    ctrl = _ctrl(adata)
    z = m.get_latent(ctrl)
    moved = ctrl.copy()
    moved.obsm["X_cell"] = moved.obsm["X_cell"][::-1].copy()
    assert not np.allclose(m.get_latent(moved), z)  # the code depends on the embedding
    pred = m.predict(ctrl)  # one perturbation: no name needed
    assert pred.uns["scotm"]["perturbation"] == "drug0"
    no_emb = ctrl.copy()
    del no_emb.obsm["X_cell"]
    with pytest.raises(ScotmInputError, match=r"obsm\['X_cell'\] not found"):
        m.predict(no_emb)
    wide = ctrl.copy()
    wide.obsm["X_cell"] = np.zeros((ctrl.n_obs, 7), dtype=np.float32)
    with pytest.raises(ScotmInputError, match="width 7 but the model was trained with width 3"):
        m.predict(wide)
    nan = ctrl.copy()
    nan.obsm["X_cell"] = ctrl.obsm["X_cell"].copy()
    nan.obsm["X_cell"][0, 0] = np.nan
    with pytest.raises(ScotmInputError, match="NaN or infinite values in 1 of"):
        m.predict(nan)
    with pytest.raises(ScotmInputError, match="obsm has"):
        SCOTM(train, cell_embedding_key="X_missing", perturbed=["drug0"])


def test_both_priors_save_load(tmp_path, drugs):
    adata, train, emb = drugs
    m = SCOTM(
        train,
        perturbed=None,
        cell_embedding_key="X_cell",
        cell_embedding_source="one-hot stand-in",
        perturbation_embeddings=emb,
        perturbation_embedding_source="toy 3-d",
        **TINY,
    ).train(progress=False)
    ctrl = _ctrl(adata)
    m.save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == [
        "embeddings.npz",
        "manifest.json",
        "response.safetensors",
        "scotm.json",
        "transport.npz",
        "weights.safetensors",
    ]
    meta = json.loads((tmp_path / "m" / "scotm.json").read_text())
    assert meta["cell_embedding"] == {"key": "X_cell", "dim": 3, "source": "one-hot stand-in"}
    assert meta["perturbation_embedding"] == {"dim": 3, "source": "toy 3-d"}
    with np.load(tmp_path / "m" / "embeddings.npz", allow_pickle=False) as e:
        # the training perturbations only, as plain arrays (saved in this test, copied not
        # computed)
        assert list(e["names"]) == m.perturbations
        np.testing.assert_allclose(e["vectors"][2], emb["drug2"].astype(np.float32), **COPY_TOL)
    loaded = SCOTM.load(tmp_path / "m")
    assert loaded.cell_embedding == m.cell_embedding
    for name, kw in (("drug4", {}), (HELD_OUT, {"perturbation_embedding": emb[HELD_OUT]})):
        np.testing.assert_allclose(
            loaded.predict(ctrl, name, **kw).X, m.predict(ctrl, name, **kw).X, **PRED_TOL
        )
    # the held-out drug's vector was not saved: after loading it must be passed
    with pytest.raises(ScotmInputError, match="no embedding"):
        loaded.predict(ctrl, HELD_OUT)
    # a model of the previous format is refused with a clear line
    meta["format_version"] = 1
    (tmp_path / "m" / "scotm.json").write_text(json.dumps(meta))
    write_manifest(tmp_path / "m")
    with pytest.raises(ScotmInputError, match="format 1; .* reads formats 2, 3"):
        SCOTM.load(tmp_path / "m")


def test_single_perturbation_with_priors_on_toy():
    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=240, n_genes=30, seed=2), n_top_genes=None)
    adata.obsm["X_standin"] = _dense(adata)[:, :5]  # a stand-in cell embedding
    m = SCOTM(
        adata,
        cell_embedding_key="X_standin",
        perturbation_embeddings={"stimulated": np.ones(4)},
        **TINY,
    ).train(progress=False)
    ctrl = _ctrl(adata)
    for source in ("auto", "response"):
        pred = m.predict(ctrl, source=source)
        assert np.isfinite(pred.X).all() and (pred.X >= 0).all()
        assert pred.uns["scotm"]["extrapolated"] is False


def test_perturbation_csv_with_or_without_header(tmp_path):
    from scotm._embeddings import read_perturbation_csv

    plain = tmp_path / "a.csv"
    plain.write_text("drugA,1,0\ndrugB,0.5,2\n")
    header = tmp_path / "b.csv"
    header.write_text("name,d0,d1\ndrugA,1,0\ndrugB,0.5,2\n")
    for path in (plain, header):
        df = read_perturbation_csv(path)
        assert list(df.index) == ["drugA", "drugB"]
        np.testing.assert_allclose(df.to_numpy(), [[1, 0], [0.5, 2]], **COPY_TOL)
    bad = tmp_path / "c.csv"
    bad.write_text("drugA,1,x\ndrugB,0.5,2\n")
    with pytest.raises(ScotmInputError, match="non-numeric"):
        read_perturbation_csv(bad)


def test_combination_of_seen_perturbations_is_additive(drugs, model):
    adata, _, _ = drugs
    ctrl = _ctrl(adata)
    combo = model.predict(ctrl, "drug1+drug2")
    info = combo.uns["scotm"]
    assert info["shift_from"] == "additive" and info["extrapolated"] is True
    z = combo.obsm["X_scotm"]
    one = model.predict(ctrl, "drug1").obsm["X_scotm_shifted"] - z
    two = model.predict(ctrl, "drug2").obsm["X_scotm_shifted"] - z
    np.testing.assert_allclose(combo.obsm["X_scotm_shifted"] - z, one + two, atol=1e-5)
    with pytest.raises(ScotmInputError, match="not a combination"):
        model.predict(ctrl, "drug1", source="additive")
