"""The SIMULATED sci-Plex data: real drugs, chemistry-driven effects, count data."""

from __future__ import annotations

import numpy as np
import pytest

import scotm
from scotm import ScotmInputError, simulate

pytest.importorskip("rdkit")

SMALL = {"n_ctrl_per_type": 30, "n_cells_per_drug": 10, "n_genes": 100}


def test_shape_labels_and_counts():
    drugs = simulate.sciplex_drugs()
    assert len(drugs) == 187 and "control" not in drugs.index
    assert {"smiles", "pathway"} <= set(drugs.columns)
    a = scotm.datasets.sciplex_sim(n_drugs=5, cell_types=("A", "B"), **SMALL)
    assert a.n_obs == 2 * 30 + 5 * 2 * 10 and a.n_vars == 100
    assert set(a.obs["cell_type"]) == {"A", "B"}
    assert (a.obs["condition"] == "control").sum() == 60
    assert a.obs["condition"].nunique() == 6
    X = a.X.toarray()
    assert (X >= 0).all() and np.array_equal(X, np.round(X))
    assert a.uns["sciplex_sim"]["simulated"] is True
    assert set(a.uns["sciplex_smiles"]) == set(a.obs["condition"]) - {"control"}
    assert (a.obs.loc[a.obs["condition"] == "control", "pathway"] == "control").all()
    dosed = scotm.datasets.sciplex_sim(n_drugs=2, doses=(10, 1000), **SMALL)
    assert sorted(set(dosed.obs["dose"])) == [0.0, 10.0, 1000.0]


def test_seeded():
    a = scotm.datasets.sciplex_sim(n_drugs=3, **SMALL)
    b = scotm.datasets.sciplex_sim(n_drugs=3, **SMALL)
    c = scotm.datasets.sciplex_sim(n_drugs=3, seed=1, **SMALL)
    assert np.array_equal(a.X.toarray(), b.X.toarray())
    assert not np.array_equal(a.X.toarray(), c.X.toarray())
    with pytest.raises(ScotmInputError, match="not sci-Plex drugs"):
        scotm.datasets.sciplex_sim(drugs=["aspirin-x"], **SMALL)


def _deltas(a):
    a = scotm.pp.prepare(a, n_top_genes=None)
    X, cond = a.X.toarray(), a.obs["condition"].astype(str).to_numpy()
    ctrl = X[cond == "control"].mean(0)
    return {d: X[cond == d].mean(0) - ctrl for d in sorted(set(cond) - {"control"})}


def test_effects_follow_the_chemistry(monkeypatch):
    drugs = simulate.sciplex_drugs()
    pair = list(drugs.index[drugs["pathway"] == "Epigenetics"][:2])
    kw = {"drugs": pair, "cell_types": ("A",), "n_ctrl_per_type": 300, "n_cells_per_drug": 300}
    real = _deltas(scotm.datasets.sciplex_sim(n_genes=300, effect_scale=3.0, **kw))
    r_real = np.corrcoef(*real.values())[0, 1]
    # the same two drugs with their chemistry erased: only the shared pathway is left
    monkeypatch.setattr(simulate, "chemistry_features", lambda s: np.zeros((len(s), 179)))
    blank = _deltas(scotm.datasets.sciplex_sim(n_genes=300, effect_scale=3.0, **kw))
    r_blank = np.corrcoef(*blank.values())[0, 1]
    assert r_blank > 0.9  # identical effects up to sampling noise
    assert r_real < r_blank - 0.1  # chemistry makes two drugs of one pathway differ
