"""The command line: every bad input ends in one line and exit code 2; the happy paths write
what they promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

from scotm import cli
from scotm.cli import main

from ._synth import synthetic_counts


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(capsys, argv, *needles):
    code, out, err = _run(capsys, "-q", *argv)
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("scotm: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def data_path(write):
    """Raw counts: types A, B, C in both conditions, 'Donly' only stimulated, 'Eonly' only
    control."""
    a = synthetic_counts(n_per=15, n_genes=40)
    ct = a.obs["cell_type"].astype(str).to_numpy().copy()
    cond = a.obs["condition"].to_numpy()
    ct[np.flatnonzero((ct == "A") & (cond == "stimulated"))[:5]] = "Donly"
    ct[np.flatnonzero((ct == "B") & (cond == "control"))[:5]] = "Eonly"
    a.obs["cell_type"] = ct
    return write(a, "counts.h5ad")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "flags, needles",
    [
        (
            ["--condition-key", "stim"],
            ["obs key 'stim' not found", "condition, cell_type", "--condition-key"],
        ),
        (["--cell-type-key", "celltype"], ["obs key 'celltype' not found", "--cell-type-key"]),
        (["--control", "ctrl"], ["label 'ctrl' not found", "control, stimulated", "--control"]),
        (["--perturbed", "IFNB"], ["label 'IFNB' not found", "control, stimulated", "--perturbed"]),
        (["--holdout", "Donly"], ["cell type 'Donly' has no 'control' cells", "--control"]),
        (["--holdout", "A,Eonly"], ["cell type 'Eonly' has no 'stimulated' cells", "--perturbed"]),
        (["--holdout", "Z"], ["cell type 'Z' not found", "A, B, C, Donly, Eonly", "--holdout"]),
        (["--methods", "identity,magic"], ["unknown method(s) magic", "mean_shift", "--methods"]),
        (["--n-top-genes", "-1"], ["--n-top-genes"]),
    ],
)
@pytest.mark.parametrize("command", ["benchmark", "run"])
def test_bad_keys_labels_and_folds(capsys, data_path, tmp_path, command, flags, needles):
    out = tmp_path / "out"
    assert_one_line_error(
        capsys, [command, "--data", data_path, "--out", str(out), *flags], *needles
    )
    assert not out.exists()  # nothing was computed or written


def test_unreadable_h5ad(capsys, tmp_path):
    text = tmp_path / "x.h5ad"
    text.write_text("this is not HDF5\n")
    assert_one_line_error(capsys, ["benchmark", "--data", str(text)], str(text), "cannot read")
    missing = tmp_path / "missing.h5ad"
    assert_one_line_error(capsys, ["run", "--data", str(missing)], str(missing), "does not exist")
    assert_one_line_error(capsys, ["run", "--data", str(tmp_path)], "is a directory")


def test_nan_in_x_names_the_cell_count(capsys, write):
    a = synthetic_counts(n_per=10, n_genes=30)
    a.X[[0, 5, 33], 2] = np.nan
    a.X[5, 3] = np.inf
    path = write(a, "nan.h5ad")
    assert_one_line_error(capsys, ["benchmark", "--data", path], "NaN", f"in 3 of {a.n_obs} cells")


def test_negative_values(capsys, write):
    a = synthetic_counts(n_per=10, n_genes=30)
    a.X = a.X - 2.0
    assert_one_line_error(capsys, ["run", "--data", write(a)], "negative values")


def test_error_is_last_line_with_progress_logging(capsys, data_path):
    code, _, err = _run(capsys, "run", "--data", data_path, "--control", "ctrl")
    lines = err.strip().splitlines()
    assert code == 2
    assert "Loading" in err
    assert lines[-1].startswith("scotm: error: label 'ctrl' not found")
    assert "Traceback" not in err


# --------------------------------------------------------------------------- evaluate


@pytest.fixture
def eval_files(write):
    a = synthetic_counts(n_per=20, n_genes=50, types=("A",))
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    is_ctrl = (a.obs["condition"] == "control").to_numpy()
    return {
        "ctrl": write(a[is_ctrl].copy(), "ctrl.h5ad"),
        "real": write(a[~is_ctrl].copy(), "real.h5ad"),
        "adata": a,
        "is_ctrl": is_ctrl,
    }


def test_evaluate(capsys, eval_files, tmp_path):
    f = eval_files
    out = tmp_path / "m" / "metrics.json"
    files = ["--ctrl", f["ctrl"], "--real", f["real"]]
    code, stdout, _ = _run(capsys, "evaluate", *files, "--pred", f["real"], "--out", str(out))
    assert code == 0
    assert "r2_mean_deg" in stdout and "1.0000" in stdout
    m = json.loads(out.read_text())
    assert m["r2_mean_all"] == pytest.approx(1.0) and m["deg_overlap"] == 1.0
    # identity: no predicted response, so delta_r is undefined: '-' on screen, null in JSON
    code, stdout, _ = _run(capsys, "evaluate", *files, "--pred", f["ctrl"], "--out", str(out))
    assert code == 0
    assert json.loads(out.read_text())["delta_r_all"] is None
    assert "delta_r_all  -" in stdout.replace("   ", "  ")


def test_evaluate_reorders_a_superset_of_genes(capsys, eval_files, write):
    f = eval_files
    real = ad.read_h5ad(f["real"])
    shuffled = write(real[:, real.var_names[::-1]].copy(), "shuffled.h5ad")
    code, stdout, _ = _run(
        capsys, "evaluate", "--ctrl", f["ctrl"], "--real", f["real"], "--pred", shuffled
    )
    assert code == 0 and "1.0000" in stdout


def test_evaluate_mismatched_genes(capsys, eval_files, write):
    f = eval_files
    real = ad.read_h5ad(f["real"])
    fewer = write(real[:, 3:].copy(), "fewer.h5ad")
    assert_one_line_error(
        capsys,
        ["evaluate", "--ctrl", f["ctrl"], "--real", f["real"], "--pred", fewer],
        "pred has 47 genes but control has 50",
        "3 missing",
    )


def test_evaluate_bad_files(capsys, eval_files, write, tmp_path):
    f = eval_files
    counts = synthetic_counts(n_per=20, n_genes=50, types=("A",))
    raw = write(counts[counts.obs["condition"] == "stimulated"].copy(), "raw.h5ad")
    assert_one_line_error(
        capsys,
        ["evaluate", "--ctrl", f["ctrl"], "--real", f["real"], "--pred", raw],
        "--pred",
        "raw counts",
    )
    nan = ad.read_h5ad(f["real"])
    nan.X[0, 0] = np.nan
    assert_one_line_error(
        capsys,
        ["evaluate", "--ctrl", f["ctrl"], "--real", write(nan, "nan.h5ad"), "--pred", f["real"]],
        "--real",
        "in 1 of 20 cells",
    )
    assert_one_line_error(
        capsys,
        ["evaluate", "--ctrl", str(tmp_path / "no.h5ad"), "--real", f["real"], "--pred", f["real"]],
        "--ctrl",
        "does not exist",
    )


# --------------------------------------------------------------------------- end to end


def test_benchmark_end_to_end(capsys, write, tmp_path):
    a = synthetic_counts(n_per=25, n_genes=2100, n_response=30)
    data = write(a, "big.h5ad")
    out = tmp_path / "bench"
    code, stdout, err = _run(
        capsys, "benchmark", "--data", data, "--methods", "identity,mean_shift", "--out", str(out)
    )
    assert code == 0, err
    assert "[fold 1/3]" in err and "[fold 3/3]" in err  # progress lines by default
    assert "MEAN" in stdout and "mean_shift" in stdout and str(out / "metrics.csv") in stdout
    table = pd.read_csv(out / "metrics.csv")
    assert len(table) == 6
    assert set(table["holdout"]) == {"A", "B", "C"}
    mean = table.groupby("method")["r2_mean_deg"].mean()
    assert mean["mean_shift"] > mean["identity"]
    genes = None
    for method in ("identity", "mean_shift"):
        for ct in ("A", "B", "C"):
            pred = ad.read_h5ad(out / "predictions" / method / f"{ct}.h5ad")
            assert pred.n_vars == 2000 and pred.n_obs == 25
            assert pred.var_names.isin(a.var_names).all()
            genes = pred.var_names if genes is None else genes
            assert pred.var_names.equals(genes)
            assert (pred.obs["cell_type"] == ct).all()
            assert np.isfinite(np.asarray(pred.X)).all() and np.asarray(pred.X).min() >= 0
    assert not [p for p in out.rglob(".*")]  # no temporaries left


def test_benchmark_pca_ot_one_fold(capsys, write, tmp_path):
    # pca_ot's PCA over 2,000 genes costs seconds a fold; 200 genes test the same path
    a = synthetic_counts(n_per=25, n_genes=200, n_response=20)
    out = tmp_path / "bench"
    argv = ["benchmark", "--data", write(a), "--methods", "identity,pca_ot", "--holdout", "B"]
    argv += ["--no-report"]
    code, stdout, err = _run(capsys, *argv, "--out", str(out))
    assert code == 0, err
    table = pd.read_csv(out / "metrics.csv").set_index("method")
    assert table.loc["pca_ot", "r2_mean_deg"] > table.loc["identity", "r2_mean_deg"]
    assert table.loc["pca_ot", "delta_r_deg"] > 0.5
    pred = ad.read_h5ad(out / "predictions" / "pca_ot" / "B.h5ad")
    assert pred.shape == (25, 200) and "cell_type" in pred.obs


def test_run_defaults_with_user_data(capsys, write, tmp_path, monkeypatch):
    a = synthetic_counts(n_per=15, n_genes=40)
    a = a[~((a.obs["cell_type"] == "B") & (np.arange(a.n_obs) % 2 == 0))].copy()  # B is smaller
    a.obs["cell_type"] = a.obs["cell_type"].replace({"A": "big"})
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)  # already log-normalised input is detected
    monkeypatch.chdir(tmp_path)
    code, stdout, err = _run(capsys, "run", "--data", write(a), "--methods", "identity,mean_shift")
    assert code == 0, err
    assert "already log-normalised" in err
    assert "holding out 'big'" in err
    table = pd.read_csv(tmp_path / "scotm_out" / "run" / "metrics.csv")
    assert list(table["holdout"].unique()) == ["big"]
    assert "scotm_out/run/metrics.csv" in stdout


def test_holdout_all_skips_types_without_both_conditions(capsys, data_path, tmp_path):
    out = tmp_path / "o"
    argv = ["run", "--data", data_path, "--methods", "identity", "--holdout", "all", "--no-report"]
    code, stdout, err = _run(capsys, *argv, "--out", str(out))
    assert code == 0, err
    assert "Donly, Eonly lack" in err or "Eonly, Donly lack" in err
    assert set(pd.read_csv(out / "metrics.csv")["holdout"]) == {"A", "B", "C"}


def test_custom_keys_and_labels(capsys, write, tmp_path):
    a = synthetic_counts(n_per=15, n_genes=40, types=("A", "B"))
    a.obs = a.obs.rename(columns={"condition": "stim", "cell_type": "ct"})
    a.obs["stim"] = a.obs["stim"].map({"control": "CTRL", "stimulated": "IFNB"})
    out = tmp_path / "o"
    argv = ["benchmark", "--data", write(a), "--condition-key", "stim", "--cell-type-key", "ct"]
    argv += ["--control", "CTRL", "--perturbed", "IFNB", "--methods", "mean_shift"]
    argv += ["--holdout", "B", "--n-top-genes", "20", "--out", str(out), "-q", "--no-report"]
    code, stdout, err = _run(capsys, *argv)
    assert code == 0, err
    assert err == ""  # --quiet: no progress lines
    pred = ad.read_h5ad(out / "predictions" / "mean_shift" / "B.h5ad")
    assert pred.n_vars == 20 and "ct" in pred.obs


def test_run_default_methods(capsys, data_path, tmp_path):
    """`scotm run` without --methods/--holdout runs the model beside the three baselines on
    one fold: the largest cell type with both conditions (C, 30 cells; A and B have 25)."""
    out = tmp_path / "o"
    code, _, err = _run(capsys, "-q", "run", "--data", data_path, "--out", str(out), "--no-report")
    assert code == 0, err
    table = pd.read_csv(out / "metrics.csv")
    methods = ["scotm", "identity", "mean_shift", "pca_ot"]
    assert table["method"].tolist() == methods
    assert set(table["holdout"]) == {"C"}
    assert sorted(p.name for p in (out / "predictions").iterdir()) == sorted(methods)
    # the model predicted a response (identity's response correlation is undefined: NaN)
    scotm_row = table.set_index("method").loc["scotm"]
    assert np.isfinite(scotm_row["delta_r_all"]) and np.isfinite(scotm_row["r2_mean_all"])


def test_registry_is_the_extension_point(capsys):
    calls = []

    def add(p):
        cli.add_data_arguments(p)

    try:
        cli.register("hello", "say hello", add, lambda args: calls.append(args.condition_key) or 0)
        assert main(["hello", "--condition-key", "x"]) == 0
    finally:
        cli.COMMANDS.pop("hello", None)
    assert calls == ["x"]


# --------------------------------------------------------------------------- real console script


def _console_script() -> str:
    script = Path(sys.executable).with_name("scotm")
    if not script.exists():
        pytest.skip("the scotm console script is not installed (pip install -e .)")
    return str(script)


def test_console_script(tmp_path):
    script = _console_script()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    bad = tmp_path / "x.h5ad"
    bad.write_text("plain text")
    proc = subprocess.run(
        [script, "benchmark", "--data", str(bad)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"scotm: error: cannot read --data {bad} as an .h5ad file")
    assert "Traceback" not in proc.stderr
    help_ = subprocess.run([script, "--help"], capture_output=True, text=True, env=env)
    assert help_.returncode == 0 and "benchmark" in help_.stdout and "evaluate" in help_.stdout


def test_import_is_lazy():
    code = (
        "import sys, scotm; heavy = [m for m in ('scanpy', 'torch', 'ot', 'anndata') if m in sys.modules];"
        "assert not heavy, heavy; assert scotm.pp.prepare; assert 'scanpy' in sys.modules;"
        "assert isinstance(scotm.__version__, str) and issubclass(scotm.ScotmInputError, ValueError)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_runtime_error_exits_1_in_one_line(capsys, eval_files, monkeypatch):
    """A failure that is not the input's fault: exit 1, one line; the traceback with -v."""
    from scotm import metrics

    def boom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory\nsecond line")

    monkeypatch.setattr(metrics, "evaluate", boom)
    f = eval_files
    argv = ["evaluate", "--ctrl", f["ctrl"], "--real", f["real"], "--pred", f["real"]]
    code, _, err = _run(capsys, "-q", *argv)
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "scotm: error: RuntimeError: CUDA out of memory (run with --verbose for the traceback)"
    ]
    code, _, err = _run(capsys, "-v", *argv)
    assert code == 1 and "Traceback (most recent call last)" in err and "boom" in err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--input-scale", "bogus"])
    assert info.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_input_scale_flag(capsys, write, tmp_path, monkeypatch):
    """--input-scale reaches prepare; 'log' on integer data overrides the detection."""
    from scotm import pp

    seen, prepare = [], pp.prepare

    def spy(adata, *args, **kwargs):
        seen.append(kwargs.get("input_scale"))
        return prepare(adata, *args, **kwargs)

    monkeypatch.setattr(pp, "prepare", spy)
    path = write(synthetic_counts(n_per=20, n_genes=50), "counts.h5ad")
    run = ["run", "--data", path, "--methods", "identity", "--n-top-genes", "0"]
    for i, scale in enumerate(("auto", "log")):
        code, _, err = _run(
            capsys, "-q", *run, "--input-scale", scale, "--out", str(tmp_path / str(i))
        )
        assert code == 0, err
    assert seen == ["auto", "log"]
