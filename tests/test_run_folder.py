"""Benchmark output folders: complete or absent, never mixed; prediction names never collide."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scotm import pp
from scotm._errors import ScotmInputError
from scotm.benchmark import run_benchmark
from scotm.benchmark.output import RUN_FILE, file_names, read_status

from ._synth import synthetic_counts


@pytest.fixture(scope="module")
def data():
    return pp.prepare(synthetic_counts(n_per=10, n_genes=30), n_top_genes=None)


def test_folder_records_completion_and_refuses_a_rerun(data, tmp_path):
    out = tmp_path / "run"
    table = run_benchmark(data, ["identity"], ["A"], out_dir=out)
    run = json.loads((out / RUN_FILE).read_text())
    assert run["status"] == "complete" and run["holdouts"] == ["A"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), table, check_dtype=False)
    with pytest.raises(ScotmInputError, match=r"is not empty \(a previous run, complete\)") as e:
        run_benchmark(data, ["identity"], ["B"], out_dir=out)
    assert "\n" not in str(e.value) and "argument overwrite" in str(e.value)
    (out / "stale.txt").write_text("from an older run")
    run_benchmark(data, ["mean_shift"], ["B"], out_dir=out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "predictions", RUN_FILE]
    assert [p.name for p in (out / "predictions").iterdir()] == ["mean_shift"]
    assert set(pd.read_csv(out / "metrics.csv")["holdout"]) == {"B"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary left


def test_interrupted_rerun_leaves_the_old_complete_run(data, tmp_path):
    out = tmp_path / "run"
    run_benchmark(data, ["identity"], ["A"], out_dir=out)
    before = (out / "metrics.csv").read_text()

    def interrupt(fold, method, pred, degs):
        assert not (out / "predictions" / method / "B.h5ad").exists()  # built aside
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_benchmark(
            data, ["identity"], ["B"], out_dir=out, overwrite=True, on_prediction=interrupt
        )
    assert read_status(out) == "complete" and (out / "metrics.csv").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_prediction_file_names_never_collide(tmp_path):
    names = file_names(["B/plasma", "B_plasma", "T cells", "NK"])
    assert names["T cells"] == "T cells" and names["NK"] == "NK"  # today's names kept
    assert names["B/plasma"] != names["B_plasma"]
    assert names["B/plasma"].startswith("B_plasma-") and len(names["B/plasma"]) == 17
    assert len(set(file_names(["a", "A"]).values())) == 2  # case-insensitive file systems
    data = pp.prepare(
        synthetic_counts(n_per=10, n_genes=30, types=("B/plasma", "B_plasma", "T")), None
    )
    out = tmp_path / "run"
    run_benchmark(data, ["identity"], ["B/plasma", "B_plasma"], out_dir=out)
    files = sorted(p.name for p in (out / "predictions" / "identity").iterdir())
    assert len(files) == 2 and files == sorted(f"{names[n]}.h5ad" for n in names if "plasma" in n)


def test_cli_rerun_refuses_without_overwrite(capsys, tmp_path):
    from scotm.cli import main

    path = tmp_path / "d.h5ad"
    synthetic_counts(n_per=10, n_genes=30).write_h5ad(path)
    out = tmp_path / "out"
    argv = ["-q", "run", "--data", str(path), "--methods", "identity", "--n-top-genes", "0"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*argv, "--holdout", "B", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("scotm: error: output folder "), err
    assert "not empty (a previous run, complete); choose another --out, or set --overwrite" in err
    assert main([*argv, "--holdout", "B", "--overwrite", "--out", str(out)]) == 0
    assert set(pd.read_csv(out / "metrics.csv")["holdout"]) == {"B"}
    assert read_status(out) == "complete"
