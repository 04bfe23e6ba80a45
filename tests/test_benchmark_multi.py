"""Folds over cell types with many perturbations: ``run_benchmark`` and ``scotm benchmark
--perturbed all`` (rows per fold and perturbation, baselines per perturbation, skips, errors)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from scotm import ScotmInputError
from scotm.benchmark import (
    EXTRA_METRICS,
    Keys,
    format_table,
    is_multi,
    plan_folds,
    run_benchmark,
    summary,
    summary_by_perturbation,
)
from scotm.benchmark.methods import register_method, unregister_method
from scotm.cli import main
from scotm.metrics import METRICS
from scotm.pp import prepare

from ._synth import synthetic_counts

PERTS = ("p1", "p2", "p3")
TYPES = ("A", "B", "C")
BLOCK = 5  # perturbation k multiplies genes [5(k-1), 5k) by 4
TINY = ["--set", "max_epochs=2", "--set", "hidden=32,16", "--set", "n_latent=4"]


def multi_counts(n_per: int = 20, n_genes: int = 40, sizes: dict | None = None, seed: int = 0):
    """Raw counts: 3 cell types x (control, p1, p2, p3); ``sizes[(type, label)]`` overrides
    a group's size (0 leaves it out)."""
    rng = np.random.default_rng(seed)
    blocks, obs = [], []
    for t in TYPES:
        rate = rng.gamma(2.0, 2.0, n_genes)
        for k, label in enumerate(("control", *PERTS)):
            r = rate.copy()
            if k:
                r[(k - 1) * BLOCK : k * BLOCK] *= 4.0
            n = (sizes or {}).get((t, label), n_per)
            blocks.append(rng.poisson(r, size=(n, n_genes)))
            obs += [(label, t)] * n
    X = np.vstack(blocks).astype(np.float32)
    cells = pd.DataFrame(obs, columns=["condition", "cell_type"])
    cells.index = [f"cell{i}" for i in range(len(obs))]
    adata = ad.AnnData(X=X, obs=cells)
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    return adata


@pytest.fixture(scope="module")
def data():
    return prepare(multi_counts(), n_top_genes=None)


@pytest.fixture
def spy():
    """A multi method that records its fits and the perturbations it is asked for."""
    calls = {"fit": [], "predict": []}

    class Spy:
        def __init__(self, keys):
            self.keys = keys

        def fit(self, train):
            calls["fit"].append((self.keys.perturbed, sorted(set(self.keys.conditions(train)))))
            return self

        def predict(self, ctrl, perturbation=None):
            calls["predict"].append(perturbation)
            return ctrl.copy()

    register_method("spy_multi", Spy, multi=True)
    yield calls
    unregister_method("spy_multi")


def _write(adata, tmp_path, name="d.h5ad"):
    path = tmp_path / name
    adata.write_h5ad(path)
    return str(path)


def _cli(tmp_path, data_path, *extra, out="out"):
    argv = ["benchmark", "--data", data_path, "--n-top-genes", "0", "--no-report"]
    return main([*argv, "--out", str(tmp_path / out), *extra])


# ----------------------------------------------------------------------------- library


def test_rows_per_fold_and_perturbation_with_baselines_per_perturbation(data, spy):
    preds = {}

    def keep(fold, method, pred, degs):
        preds[(fold.holdout, method)] = np.asarray(
            pred.X.toarray() if hasattr(pred.X, "toarray") else pred.X
        ).mean(0) - np.asarray(fold.ctrl.X.toarray()).mean(0)

    table = run_benchmark(
        data, ["mean_shift", "spy_multi"], keys=Keys(perturbed=None), on_prediction=keep
    )
    assert len(table) == len(TYPES) * len(PERTS) * 2
    assert list(table.columns[:3]) == ["holdout", "perturbation", "method"]
    assert set(METRICS) | set(EXTRA_METRICS) <= set(table.columns)
    pairs = table.groupby("method")[["holdout", "perturbation"]].apply(
        lambda g: len(g.drop_duplicates())
    )
    assert (pairs == len(TYPES) * len(PERTS)).all()
    assert table.attrs["skipped"] == []
    # the multi method: fit once per fold on every perturbation, asked for each in turn
    assert len(spy["fit"]) == len(TYPES)
    assert all(keys == PERTS and conds == ["control", *PERTS] for keys, conds in spy["fit"])
    assert spy["predict"] == list(PERTS) * len(TYPES)
    # mean_shift: fit per perturbation; its predicted change peaks in that perturbation's block
    for t in TYPES:
        for k, p in enumerate(PERTS):
            change = preds[(f"{t} / {p}", "mean_shift")]
            block = np.abs(change).reshape(-1, BLOCK).sum(1)[: len(PERTS)]
            assert int(np.argmax(block)) == k, (t, p, block)
    ms = table[table["method"] == "mean_shift"]
    assert (ms["centroid_acc"] == 1.0).all() and (ms["centroid_rank"] == 0).all()
    assert ms["systema_r"].gt(0.3).all()  # each prediction carries its own response
    # the identity-like spy predicts no change: it cannot tell the perturbations apart
    assert table.loc[table["method"] == "spy_multi", "delta_r_deg"].isna().all()


def test_summaries_and_text_table_over_perturbations():
    rng = np.random.default_rng(0)
    rows = [
        {"holdout": h, "perturbation": p, "method": m, "edist": rng.random(), "systema_r": 0.5}
        for h in "AB"
        for p in ("x", "y")
        for m in ("m1", "m2")
    ]
    table = pd.DataFrame(rows)
    mean = summary(table)
    assert mean.loc["m1", "edist"] == pytest.approx(table.loc[table.method == "m1", "edist"].mean())
    per = summary_by_perturbation(table)
    sel = (table.method == "m2") & (table.perturbation == "y")
    assert per.loc[("y", "m2"), "edist"] == pytest.approx(table.loc[sel, "edist"].mean())
    text = format_table(table)
    assert "perturbation" in text and "systema_r" in text
    assert text.count("MEAN") == 1 and "all" in text  # per-perturbation means, then over all


def test_report_has_per_perturbation_tables():
    from scotm.report import build_report

    rows = [
        {"holdout": h, "perturbation": p, "method": "m", "r2_mean_deg": 0.5, "edist": 1.0}
        for h in "AB"
        for p in ("x", "y")
    ]
    page = build_report(pd.DataFrame(rows))
    assert "Mean over folds per perturbation" in page
    assert "Per fold and perturbation" in page and "2 perturbation(s)" in page


def test_plan_skips_small_pairs_or_refuses_them_when_named(data):
    small = prepare(multi_counts(sizes={("C", "p3"): 0, ("B", "p2"): 1}), n_top_genes=None)
    plan, skipped = plan_folds(small, Keys(perturbed=None), list(TYPES))
    assert plan == {"A": list(PERTS), "B": ["p1", "p3"], "C": ["p1", "p2"]}
    assert {(s["holdout"], s["perturbation"]) for s in skipped} == {("B", "p2"), ("C", "p3")}
    assert all("cell(s)" in s["reason"] for s in skipped)
    with pytest.raises(ScotmInputError, match="'p3' cannot be scored in fold 'C'"):
        plan_folds(small, Keys(perturbed=("p1", "p3")), list(TYPES))
    assert is_multi("scotm") and not is_multi("scotm_separate") and not is_multi("pca_ot")


def test_a_crash_leaves_no_output_folder(data, tmp_path):
    class Boom:
        def __init__(self, keys):
            self.keys = keys

        def fit(self, train):
            return self

        def predict(self, ctrl):
            if self.keys.perturbed == "p3":
                raise RuntimeError("boom")
            return ctrl.copy()

    register_method("boom", Boom)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            run_benchmark(data, ["boom"], keys=Keys(perturbed=None), out_dir=tmp_path / "o")
    finally:
        unregister_method("boom")
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("o")]


# ----------------------------------------------------------------------------- command line


def test_cli_perturbed_all_one_scotm_model_and_outputs(tmp_path, capsys):
    path = _write(multi_counts(), tmp_path)
    rc = _cli(tmp_path, path, "--perturbed", "all", "--methods", "mean_shift,scotm", *TINY)
    assert rc == 0
    out = tmp_path / "out"
    table = pd.read_csv(out / "metrics.csv")
    assert len(table) == len(TYPES) * len(PERTS) * 2
    assert set(table["perturbation"]) == set(PERTS)
    assert table[list(EXTRA_METRICS)].notna().all().all()
    scotm_fit = table[table["method"] == "scotm"].groupby("holdout")["fit_s"].nunique()
    assert (scotm_fit == 1).all()  # one model per fold, for all three perturbations
    ms_fit = table[table["method"] == "mean_shift"].groupby("holdout")["fit_s"].nunique()
    assert (ms_fit == len(PERTS)).all()  # one baseline per perturbation
    for method in ("mean_shift", "scotm"):
        for t in TYPES:
            files = sorted(f.stem for f in (out / "predictions" / method / t).glob("*.h5ad"))
            assert files == list(PERTS)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["skipped"] == []
    printed = capsys.readouterr().out
    assert "all" in printed and "<holdout>/<perturbation>.h5ad" in printed


def test_cli_list_of_perturbations(tmp_path):
    path = _write(multi_counts(), tmp_path)
    assert _cli(tmp_path, path, "--perturbed", "p3,p1", "--methods", "mean_shift") == 0
    table = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert sorted(set(table["perturbation"])) == ["p1", "p3"]
    assert len(table) == len(TYPES) * 2


def test_cli_all_with_one_perturbation_is_todays_run(tmp_path):
    path = _write(synthetic_counts(n_per=15, n_genes=30), tmp_path)
    args = ("--methods", "identity,mean_shift")
    assert _cli(tmp_path, path, "--perturbed", "all", *args, out="all") == 0
    assert _cli(tmp_path, path, "--perturbed", "stimulated", *args, out="one") == 0
    every = pd.read_csv(tmp_path / "all" / "metrics.csv")
    one = pd.read_csv(tmp_path / "one" / "metrics.csv")
    assert "perturbation" not in every.columns
    assert list(every.columns) == list(one.columns)
    cols = list(METRICS)
    pd.testing.assert_frame_equal(
        every[["holdout", "method", *cols]], one[["holdout", "method", *cols]]
    )
    assert (tmp_path / "all" / "predictions" / "mean_shift" / "A.h5ad").exists()


def _one_line_error(capsys, needle):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("scotm: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("sizes", "perturbed", "holdout", "needle"),
    [
        ({}, "p1,nope", "all", "nope"),  # unknown perturbation in the list
        ({("C", "p3"): 0}, "p1,p3", "all", "'p3' cannot be scored in fold 'C'"),  # missing
        ({("B", "p2"): 1}, "p2,p3", "all", "1 cell(s) in 'B'"),  # too few cells
        (  # nothing left to score
            {("C", p): 1 for p in PERTS},
            "all",
            "C",
            "no (cell type, perturbation) pair",
        ),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, sizes, perturbed, holdout, needle):
    path = _write(multi_counts(sizes=sizes), tmp_path)
    rc = _cli(
        tmp_path, path, "--perturbed", perturbed, "--holdout", holdout, "--methods", "mean_shift"
    )
    assert rc == 2
    _one_line_error(capsys, needle)
    assert not (tmp_path / "out").exists()  # refused before any output


def test_cli_all_skips_and_records_small_pairs(tmp_path, capsys):
    path = _write(multi_counts(sizes={("C", "p3"): 0, ("B", "p2"): 1}), tmp_path)
    assert _cli(tmp_path, path, "--perturbed", "all", "--methods", "mean_shift") == 0
    table = pd.read_csv(tmp_path / "out" / "metrics.csv")
    pairs = set(zip(table["holdout"], table["perturbation"], strict=True))
    assert len(pairs) == 7 and ("C", "p3") not in pairs and ("B", "p2") not in pairs
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert {(s["holdout"], s["perturbation"]) for s in run["skipped"]} == {("B", "p2"), ("C", "p3")}
    assert "skipped 2" in capsys.readouterr().out


def test_cli_report_has_a_section_per_fold_and_perturbation(tmp_path):
    path = _write(multi_counts(), tmp_path)
    argv = ["benchmark", "--data", path, "--n-top-genes", "0", "--out", str(tmp_path / "out")]
    assert main([*argv, "--perturbed", "p1,p2", "--holdout", "A", "--methods", "mean_shift"]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert "A / p1" in page and "A / p2" in page and "A / p3" not in page
    assert "Mean over folds per perturbation" in page and "systema_r" in page
