"""scotm.report: ``scotm benchmark`` and ``scotm run`` write one self-contained report.html."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests only: the library never picks a backend

import base64  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402

import matplotlib.image as mpimg  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from scotm import pp, report  # noqa: E402
from scotm.baselines import MeanShift  # noqa: E402
from scotm.benchmark import holdout_split, run_benchmark  # noqa: E402
from scotm.cli import main  # noqa: E402
from scotm.datasets import toy  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r"<img\b[^>]*>")
SRC = re.compile(r'src="([^"]*)"')


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "toy.h5ad"
    toy(n_cells=300, n_genes=60).write_h5ad(path)
    return str(path)


def images(page: str) -> list[bytes]:
    """Every <img>'s PNG bytes; fails on an image that is not an embedded PNG."""
    out = []
    for tag in IMG.findall(page):
        src = SRC.search(tag).group(1)
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix), src[:60]
        png = base64.b64decode(src[len(prefix) :], validate=True)
        assert png[:8] == PNG_SIGNATURE
        height, width = mpimg.imread(io.BytesIO(png)).shape[:2]
        assert width > 300 and height > 300, (width, height)
        out.append(png)
    return out


def test_benchmark_writes_a_self_contained_report(capsys, toy_path, tmp_path):
    out = tmp_path / "bench"
    argv = ["-q", "benchmark", "--data", toy_path, "--methods", "identity,mean_shift"]
    assert main([*argv, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    path = out / "report.html"
    assert path.exists() and f"report: {path}" in stdout
    page = path.read_text(encoding="utf-8")
    # the metrics table: per fold and the mean, every method and metric
    table = pd.read_csv(out / "metrics.csv")
    assert page.count("<table>") >= 2 and "Mean over folds" in page
    for name in ("r2_mean_deg", "delta_r_deg", "edist", "identity", "mean_shift"):
        assert f">{name}<" in page
    for holdout in table["holdout"].unique():
        assert f">{holdout}<" in page
    value = table.set_index(["holdout", "method"]).loc[("type0", "mean_shift"), "r2_mean_deg"]
    assert f">{value:.3f}<" in page
    # figures: 3 bar charts, and 3 per fold for the first method (no scotm here)
    pngs = images(page)
    assert len(pngs) == 3 + 3 * 3
    assert page.count("(identity)</small>") == 3
    # self-contained: no external stylesheet, script or image
    assert not re.search(r"""(?:src|href)=["'](?!data:)""", page)
    assert "<script" not in page and "<link" not in page
    assert "run time" in page and "toy.h5ad" in page and "Settings" in page
    assert not [p for p in out.rglob(".*")]  # no temporaries left


def test_no_report(capsys, toy_path, tmp_path):
    out = tmp_path / "bench"
    argv = ["-q", "benchmark", "--data", toy_path, "--methods", "mean_shift", "--holdout", "type0"]
    assert main([*argv, "--out", str(out), "--no-report"]) == 0
    assert "report:" not in capsys.readouterr().out
    assert (out / "metrics.csv").exists()
    assert not (out / "report.html").exists()


def test_run_writes_a_report_by_default(capsys, toy_path, tmp_path):
    out = tmp_path / "run"
    argv = ["-q", "run", "--data", toy_path, "--methods", "mean_shift", "--out", str(out)]
    assert main(argv) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "scotm run" in page and page.count("(mean_shift)</small>") == 1
    assert len(images(page)) == 3 + 3


@pytest.fixture(scope="module")
def adata():
    return pp.prepare(toy(n_cells=300, n_genes=60), n_top_genes=None)


def test_collector_keeps_one_method_and_pngs_only(adata, tmp_path):
    collector = report.FigureCollector(report.report_method(["identity", "mean_shift"]))
    table = run_benchmark(
        adata, methods=["identity", "mean_shift"], holdouts=["type0"], on_prediction=collector
    )
    assert [(f.holdout, f.method) for f in collector.folds] == [("type0", "identity")]
    assert all(isinstance(b, str) for b in collector.folds[0].images.values())
    path = report.write_report(tmp_path, table, collector.folds, runtime_s=4000)
    page = path.read_text(encoding="utf-8")
    assert "1 h 06 min" in page and "Mean over folds" not in page  # one fold: no mean table
    assert report.report_method(["pca_ot", "scotm"]) == "scotm"
    two_folds = pd.DataFrame(  # a hand-made table: no timing columns
        [{"holdout": h, "method": "m", "r2_mean_deg": 0.5} for h in ("a", "b")]
    )
    assert "Mean over folds" in report.build_report(two_folds)


def test_scotm_prediction_adds_shift_sources_and_failures_are_notes(adata, tmp_path):
    fold = holdout_split(adata, "type2")
    pred = MeanShift().fit(fold.train).predict(fold.ctrl)
    pred.uns["scotm"] = {"shift_sources": {"type0": 0.6, "type1": 0.4}}
    figs = report.render_fold(fold.ctrl, fold.real, pred, holdout="type2", method="scotm")
    assert "sources of the predicted shift" in figs.images and len(figs.images) == 4
    collector = report.FigureCollector("scotm")
    collector(fold, "scotm", pred[:, :5].copy())  # genes do not match: noted, not raised
    assert collector.folds[0].notes and not collector.folds[0].images
    table = pd.DataFrame(
        [{"holdout": "<b>x</b>", "method": "scotm", "r2_mean_deg": 0.5, "edist": float("nan")}]
    )
    page = report.write_report(
        tmp_path,
        table,
        [figs, *collector.folds],
        settings={"methods": ["scotm"], "keys": {"a": "<i>"}},
        data_summary={"cells": 10},
    ).read_text(encoding="utf-8")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page and "&lt;i&gt;" in page
    assert "figures failed" in page and len(images(page)) == 4 + 1  # + the r2 bar chart


def test_images_are_shown_at_their_size_in_inches():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.0, 2.5))
    fig.add_subplot().plot([0, 1], [0, 1])
    b64 = report.figure_png_base64(fig, dpi=150)
    png = base64.b64decode(b64)
    height, width = mpimg.imread(io.BytesIO(png)).shape[:2]
    shown = report.png_display_size(png)
    assert shown == (round(width * 96 / 150), round(height * 96 / 150))
    # the resolution comes from the PNG itself, not from the default
    assert report.png_display_size(base64.b64decode(report.figure_png_base64(fig, dpi=300)))[
        0
    ] == pytest.approx(shown[0], abs=2)
    tag = IMG.search(report._img(b64, "a caption")).group(0)
    assert f'width="{shown[0]}" height="{shown[1]}"' in tag
    assert "width=" not in report._img("bm90IGEgcG5n", "not a png")  # unreadable: natural size
    with pytest.raises(ValueError, match="not a PNG"):
        report.png_display_size(b"GIF89a" + bytes(30))
