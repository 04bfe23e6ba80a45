"""The default cell prior (GenePT into the encoder): when it is on, what it computes, saving."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import scotm
from scotm import ScotmInputError, priors
from scotm.model import ABLATIONS, SCOTM, cell_prior


@pytest.fixture(scope="module")
def toy():
    return scotm.pp.prepare(scotm.datasets.toy(n_cells=240, n_genes=30, seed=3))


def test_auto_is_off_for_genes_that_are_not_symbols(toy, caplog):
    with caplog.at_level(logging.INFO, logger="scotm.model"):
        m = SCOTM(toy)
    assert m.state.gene_prior is None and m.cell_embedding is None
    assert m.cell_embedding_of(toy) is None
    assert "Cell prior off: only 0% of the 30 genes" in caplog.text
    assert "GenePT" not in repr(m)


def test_genept_refuses_genes_that_are_not_symbols_and_bad_values(toy):
    with pytest.raises(ScotmInputError, match="cell_prior='genept' needs gene symbols"):
        SCOTM(toy, cell_prior="genept")
    with pytest.raises(ScotmInputError, match="cell_prior"):
        SCOTM(toy, cell_prior="yes")
    toy2 = toy.copy()
    toy2.obsm["E"] = np.ones((toy2.n_obs, 3), np.float32)
    with pytest.raises(ScotmInputError, match="set one of them"):
        SCOTM(toy2, cell_embedding_key="E", cell_prior="genept")
    # an explicit embedding replaces the automatic prior
    assert SCOTM(toy2, cell_embedding_key="E").cell_embedding["key"] == "E"


def test_symbol_fraction_uses_the_shipped_list():
    universe = cell_prior.gene_universe()
    assert len(universe) > 15_000 and {"ISG15", "CD3E", "IFIT1"} <= universe
    assert cell_prior.symbol_fraction(["ISG15", "CD3E", "gene0", "ENSG00000187608"]) == 0.5
    assert cell_prior.symbol_fraction([]) == 0.0


def test_blocks_give_the_one_shot_result(toy, monkeypatch):
    G = np.random.default_rng(0).normal(size=(toy.n_vars, 5)).astype(np.float32)
    whole = cell_prior.cells(toy, G)
    np.testing.assert_array_equal(whole, priors.cell_embedding(toy, G))
    monkeypatch.setattr(cell_prior, "BLOCK", 7)
    np.testing.assert_array_equal(cell_prior.cells(toy, G), whole)
    with pytest.raises(ScotmInputError, match="trained on"):
        cell_prior.cells(toy[:, :10], G)


@pytest.mark.kang
def test_universe_file_is_the_gene_sets_genes():
    from scotm.priors.genes import COLLECTIONS, _membership

    assert cell_prior.gene_universe() == frozenset(_membership(tuple(COLLECTIONS)))


@pytest.mark.kang
def test_default_prior_on_symbols_trains_predicts_and_saves(
    toy, tiny, emb_cache, monkeypatch, tmp_path
):
    """Gene symbols turn the prior on: GenePT of each cell enters the encoder, and is saved."""
    symbols = sorted(cell_prior.gene_universe())[::500][: toy.n_vars]
    adata = toy.copy()
    adata.var_names = symbols
    text = priors.TextEmbedder(tiny["text"])  # a tiny model stands in for MiniLM
    monkeypatch.setattr(priors.text, "TextEmbedder", lambda: text)
    m = SCOTM(adata, max_epochs=2, seed=0)
    G = m.state.gene_prior
    assert G.shape == (adata.n_vars, 16) and "GenePT cell prior" in repr(m)
    expect = priors.genept(adata, embedder=text, copy=True).obsm["X_genept"]
    np.testing.assert_array_equal(m.cell_embedding_of(adata), expect)
    m.train(progress=False)
    ctrl = adata[adata.obs["condition"] == "control"].copy()
    before = np.asarray(m.predict(ctrl).X)
    m.save(tmp_path / "m")
    assert (tmp_path / "m" / "gene_prior.npz").exists()
    monkeypatch.setattr(priors.text, "TextEmbedder", None)  # loading needs no text model
    again = SCOTM.load(tmp_path / "m")
    np.testing.assert_array_equal(again.state.gene_prior, G)
    np.testing.assert_array_equal(np.asarray(again.predict(ctrl).X), before)
    # the same model without the prior (the benchmark's "scotm_noprior") is another model
    off = SCOTM(adata, max_epochs=2, seed=0, **ABLATIONS["scotm_noprior"]).train(progress=False)
    assert off.cell_embedding is None and off.state.gene_prior is None
    assert np.abs(np.asarray(off.predict(ctrl).X) - before).max() > 1e-4
