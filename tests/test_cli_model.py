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
