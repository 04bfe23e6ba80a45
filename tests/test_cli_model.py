"""`scotm train` / `scotm predict` on a user's h5ad, and their one-line errors."""

from __future__ import annotations

import anndata as ad
import numpy as np

from scotm.cli import main

from ._synth import synthetic_counts
from .test_cli import assert_one_line_error

FAST = ["--set", "hidden=[32,16]", "--set", "n_latent=4", "--max-epochs", "3"]


def _user_data(write):
    """Other key names and labels than Kang's, raw counts."""
    a = synthetic_counts(n_per=20, n_genes=40)
    a.obs = a.obs.rename(columns={"condition": "treatment", "cell_type": "celltype"})
    a.obs["treatment"] = a.obs["treatment"].map({"control": "DMSO", "stimulated": "drug"})
    return write(a), a


KEYS = ["--condition-key", "treatment", "--control", "DMSO", "--perturbed", "drug"]
KEYS += ["--cell-type-key", "celltype", "--n-top-genes", "30"]


def test_train_then_predict(capsys, write, tmp_path):
    path, raw = _user_data(write)
    model_dir = tmp_path / "model"
    code = main(
        ["-q", "train", "--data", path, *KEYS, "--holdout", "C", "--out", str(model_dir), *FAST]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert (model_dir / "weights.safetensors").exists() and "trained on" in out
    pred_path = tmp_path / "pred.h5ad"
    code = main(
        [
            "-q",
            "predict",
            "--model",
            str(model_dir),
            "--data",
            path,
            *KEYS[:4],
            "--cell-type",
            "C",
            "--out",
            str(pred_path),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    pred = ad.read_h5ad(pred_path)
    assert pred.n_obs == 20 and pred.n_vars == 30
    assert (pred.obs["celltype"] == "C").all()
    assert np.isfinite(pred.X).all()
    assert "X_scotm" in pred.obsm and "scotm" in pred.uns
    # training refuses to overwrite the model without --overwrite
    assert_one_line_error(
        capsys, ["train", "--data", path, *KEYS, "--out", str(model_dir)], "--overwrite"
    )


def test_predict_errors(capsys, write, tmp_path):
    path, raw = _user_data(write)
    model_dir = tmp_path / "model"
    assert main(["-q", "train", "--data", path, *KEYS, "--out", str(model_dir), *FAST]) == 0
    capsys.readouterr()
    fewer = write(raw[:, 5:].copy(), "fewer.h5ad")
    assert_one_line_error(
        capsys,
        ["predict", "--model", str(model_dir), "--data", fewer, *KEYS[:4]],
        "genes are missing",
    )
    assert_one_line_error(
        capsys,
        ["predict", "--model", str(tmp_path), "--data", path, *KEYS[:4]],
        "not a saved scotm model",
    )
    assert_one_line_error(
        capsys,
        ["predict", "--model", str(model_dir), "--data", path, *KEYS[:4], "--cell-type", "Z"],
        "cell type 'Z' not found",
        "--cell-type",
    )
    assert_one_line_error(
        capsys,
        ["predict", "--model", str(model_dir), "--data", path, "--control", "control"],
        "label 'control' not found",
        "--control",
    )
    assert_one_line_error(
        capsys,
        ["train", "--data", path, *KEYS, "--out", str(tmp_path / "x"), "--set", "bogus=1"],
        "unknown setting",
    )


def _drug_data(write, tmp_path):
    """Several drugs, a stand-in cell embedding in obsm, and an embedding CSV."""
    from ._synth import multi_drug_counts

    a, emb = multi_drug_counts(n_per=12, n_genes=30, n_drugs=6, seed=1)
    a.obsm["X_standin"] = np.log1p(a.X[:, :4])  # a stand-in cell embedding, not a real one
    csv = tmp_path / "emb.csv"
    csv.write_text("".join(f"{n}," + ",".join(map(str, v)) + "\n" for n, v in emb.items()))
    return write(a), a, emb, csv


def test_train_predict_several_drugs_with_priors(capsys, write, tmp_path):
    path, raw, emb, csv = _drug_data(write, tmp_path)
    model_dir = tmp_path / "model"
    # drug5 is held out entirely: train on drug0-drug4 only
    code = main(
        [
            "-q",
            "train",
            "--data",
            path,
            "--perturbed",
            "drug0,drug1,drug2,drug3,drug4",
            "--cell-embedding-key",
            "X_standin",
            "--perturbation-embeddings",
            str(csv),
            "--perturbation-embedding-source",
            "toy 3-d",
            "--n-top-genes",
            "0",
            "--holdout",
            "C",
            "--out",
            str(model_dir),
            *FAST,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "5 perturbation(s)" in out
    assert (model_dir / "response.safetensors").exists()
    base = ["-q", "predict", "--model", str(model_dir), "--data", path, "--cell-type", "C"]
    pred_path = tmp_path / "p.h5ad"
    assert main([*base, "--perturbation", "drug2", "--out", str(pred_path)]) == 0
    pred = ad.read_h5ad(pred_path)
    assert pred.uns["scotm"]["perturbation"] == "drug2"
    assert not pred.uns["scotm"]["extrapolated"]
    capsys.readouterr()
    code = main(
        [*base, "--perturbation", "drug5", "--perturbation-embeddings", str(csv)]
        + ["--out", str(pred_path)]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "extrapolated" in out
    pred = ad.read_h5ad(pred_path)
    assert pred.uns["scotm"]["extrapolated"] and pred.n_obs == 12
    assert_one_line_error(
        capsys, [*base, "--out", str(pred_path)], "knows 5 perturbations", "with --perturbation"
    )
    assert_one_line_error(
        capsys, [*base, "--perturbation", "drug5"], "no embedding for perturbation 'drug5'"
    )
    no_obsm = raw.copy()
    del no_obsm.obsm["X_standin"]
    assert_one_line_error(
        capsys,
        ["predict", "--model", str(model_dir), "--data", write(no_obsm, "n.h5ad")]
        + ["--perturbation", "drug2"],
        "obsm['X_standin'] not found",
    )
    wide = raw.copy()
    wide.obsm["X_standin"] = np.zeros((raw.n_obs, 9), dtype=np.float32)
    assert_one_line_error(
        capsys,
        ["predict", "--model", str(model_dir), "--data", write(wide, "w.h5ad")]
        + ["--perturbation", "drug2"],
        "width 9 but the model was trained with width 4",
    )


def test_train_all_perturbations_and_bad_embeddings(capsys, write, tmp_path):
    path, raw, emb, csv = _drug_data(write, tmp_path)
    common = ["train", "--data", path, "--n-top-genes", "0", *FAST]
    model_dir = tmp_path / "all"
    assert main(["-q", *common, "--perturbed", "all", "--out", str(model_dir)]) == 0
    assert "6 perturbation(s)" in capsys.readouterr().out
    nan_csv = tmp_path / "nan.csv"
    lines = csv.read_text().splitlines()
    lines[1] = "drug1,nan," + ",".join(lines[1].split(",")[2:])
    nan_csv.write_text("\n".join(lines) + "\n")
    assert_one_line_error(
        capsys,
        [*common, "--perturbed", "all", "--perturbation-embeddings", str(nan_csv)]
        + ["--out", str(tmp_path / "x")],
        "NaN",
    )
    short = tmp_path / "short.csv"
    short.write_text("\n".join(csv.read_text().splitlines()[:2]) + "\n")
    assert_one_line_error(
        capsys,
        [*common, "--perturbed", "all", "--perturbation-embeddings", str(short)]
        + ["--out", str(tmp_path / "x")],
        "no vector for 4 training perturbation(s)",
    )
    assert_one_line_error(
        capsys,
        [*common, "--perturbed", "all", "--cell-embedding-key", "X_gpt"]
        + ["--out", str(tmp_path / "x")],
        "obsm['X_gpt'] not found",
    )
    assert_one_line_error(
        capsys,
        [*common, "--perturbed", "drug0,drugZ", "--out", str(tmp_path / "x")],
        "label 'drugZ' not found",
    )
    assert_one_line_error(
        capsys,
        [*common, "--perturbation-embeddings", str(tmp_path / "none.csv")]
        + ["--out", str(tmp_path / "x")],
        "does not exist",
    )


def test_train_two_networks_then_predict(capsys, write, tmp_path):
    path, _ = _user_data(write)
    model_dir = tmp_path / "model"
    args = ["-q", "train", "--data", path, *KEYS, "--holdout", "C", "--out", str(model_dir)]
    assert main([*args, *FAST, "--set", "members=2"]) == 0
    out = capsys.readouterr().out
    assert "2 networks, in 3+3 epochs" in out, out
    assert (model_dir / "member1.weights.safetensors").exists()
    pred_path = tmp_path / "pred.h5ad"
    predict = ["-q", "predict", "--model", str(model_dir), "--data", path, *KEYS[:4]]
    assert main([*predict, "--cell-type", "C", "--out", str(pred_path)]) == 0
    assert ad.read_h5ad(pred_path).n_obs == 20
