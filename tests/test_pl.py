"""scotm.pl: every plot renders to a valid PNG of a sensible size, draws into a given Axes, and
shows the pinned protocol's numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests only: the library never picks a backend

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from scotm import ScotmInputError, metrics, pl, pp  # noqa: E402
from scotm.baselines import MeanShift  # noqa: E402
from scotm.benchmark import holdout_split  # noqa: E402
from scotm.datasets import toy  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fold():
    adata = pp.prepare(toy(n_cells=300, n_genes=60), n_top_genes=None)
    return holdout_split(adata, "type1")


@pytest.fixture(scope="module")
def pred(fold):
    return MeanShift().fit(fold.train).predict(fold.ctrl)


@pytest.fixture(scope="module")
def model(fold):
    from scotm import SCOTM

    return SCOTM(fold.train, hidden=(32, 16), n_latent=4, max_epochs=3).train(progress=False)


@pytest.fixture(scope="module")
def table():
    rows = []
    for h in ("A", "B cells", "C"):
        for k, m in enumerate(("identity", "mean_shift", "pca_ot")):
            rows.append({"holdout": h, "method": m, "r2_mean_deg": 0.3 * k, "edist": 1.0 - 0.2 * k})
    rows[0]["r2_mean_deg"] = float("nan")
    return pd.DataFrame(rows)


def assert_png(path, min_px: int = 300) -> tuple[int, int]:
    assert path.exists()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width = mpimg.imread(path).shape[:2]
    assert width > min_px and height > min_px, (width, height)
    return width, height


def _draw(name: str, fold, pred, model, table, **kw) -> Figure:
    calls = {
        "mean_regression": lambda: pl.mean_regression(fold.ctrl, fold.real, pred, **kw),
        "embedding": lambda: pl.embedding(fold.ctrl, fold.real, pred, **kw),
        "deg_violins": lambda: pl.deg_violins(fold.ctrl, fold.real, pred, **kw),
        "fold_bars": lambda: pl.fold_bars(table, **kw),
        "shift_sources": lambda: pl.shift_sources(model.predict(fold.ctrl), **kw),
        "ot_pairing": lambda: pl.ot_pairing(model, n_pairs=40, **kw),
        "training_curves": lambda: pl.training_curves(model, **kw),
    }
    return calls[name]()


PLOTS = [
    "mean_regression",
    "embedding",
    "deg_violins",
    "fold_bars",
    "shift_sources",
    "ot_pairing",
    "training_curves",
]


@pytest.mark.parametrize("name", PLOTS)
def test_renders_a_png(name, fold, pred, model, table, tmp_path):
    fig = _draw(name, fold, pred, model, table)
    assert isinstance(fig, Figure)
    path = pl.save(fig, tmp_path / "sub" / f"{name}.png", dpi=150)
    assert path == tmp_path / "sub" / f"{name}.png"
    assert_png(path)
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{name}.png"]  # no temporaries


@pytest.mark.parametrize("name", PLOTS)
def test_draws_into_a_given_axes(name, fold, pred, model, table):
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    out = _draw(name, fold, pred, model, table, ax=right)
    assert out is fig
    assert right.collections or right.patches or right.lines
    assert not (left.collections or left.patches or left.lines)
    assert len(fig.axes) == 2


def test_axes_of_a_subfigure_returns_the_root_figure(fold, pred):
    fig = Figure()
    ax = fig.subfigures(1, 2)[1].subplots()
    assert pl.embedding(fold.ctrl, fold.real, pred, ax=ax) is fig


def test_save_pdf_and_svg_and_refuses_other_formats(fold, pred, tmp_path):
    fig = pl.deg_violins(fold.ctrl, fold.real, pred, n=3)
    assert pl.save(fig, tmp_path / "v.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in pl.save(fig, tmp_path / "v.svg").read_bytes()[:2000]
    with pytest.raises(ScotmInputError, match=r"\.png, \.pdf or \.svg"):
        pl.save(fig, tmp_path / "v.jpg")
    assert not (tmp_path / "v.jpg").exists()


def test_mean_regression_shows_the_protocols_r2(fold, pred):
    degs = metrics.top_degs(fold.ctrl, fold.real)
    scores = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
    fig = pl.mean_regression(fold.ctrl, fold.real, pred, degs, n_label=5)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"R² = {scores['r2_mean_all']:.3f}" in legend[0]
    assert f"R² = {scores['r2_mean_deg']:.3f}" in legend[1]
    labels = {t.get_text() for t in ax.texts}
    assert labels == set(degs[:5])


def test_deg_violins_given_genes_and_a_constant_gene(fold, pred):
    ctrl = fold.ctrl.copy()
    ctrl.X = ctrl.X.toarray() if hasattr(ctrl.X, "toarray") else ctrl.X.copy()
    ctrl.X[:, 0] = 1.5  # constant in one group: no density, drawn as a line
    genes = [str(ctrl.var_names[0]), str(ctrl.var_names[3])]
    fig = pl.deg_violins(ctrl, fold.real, pred, genes=genes)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == genes
    with pytest.raises(ScotmInputError, match="not among the genes"):
        pl.deg_violins(ctrl, fold.real, pred, genes=["nope"])


def test_fold_bars_groups_folds_and_methods(table):
    fig = pl.fold_bars(table, "edist")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B cells", "C", "mean"]
    assert len(ax.patches) == 4 * 3
    assert "lower is better" in ax.get_ylabel()
    with pytest.raises(ScotmInputError, match="no column 'nope'"):
        pl.fold_bars(table, "nope")


def test_inputs_without_what_a_plot_needs(fold, pred, model):
    with pytest.raises(ScotmInputError, match="shift_sources"):
        pl.shift_sources(pred)  # a baseline records no shift sources
    with pytest.raises(ScotmInputError, match="basis"):
        pl.embedding(fold.ctrl, fold.real, pred, basis="tsne")
    with pytest.raises(ScotmInputError, match="not in the model's reference"):
        pl.ot_pairing(model, cell_type="type1")  # the held-out type has no OT pairs
    with pytest.raises(ScotmInputError, match="no training history"):
        pl.training_curves([])
    with pytest.raises(ScotmInputError, match="genes"):
        pl.mean_regression(fold.ctrl, fold.real, pred[:, :10].copy())


def test_ot_pairing_one_cell_type_and_shift_sources_mapping(model, tmp_path):
    fig = pl.ot_pairing(model, n_pairs=10, cell_type="type0")
    assert "10 of" in fig.axes[0].get_title()
    assert_png(pl.save(pl.shift_sources({"x": 0.25, "y": 0.75}), tmp_path / "s.png"))


def test_global_style_is_untouched(fold, pred):
    before = dict(matplotlib.rcParams)
    pl.mean_regression(fold.ctrl, fold.real, pred, n_label=2)
    assert dict(matplotlib.rcParams) == before


def test_public_functions_have_examples():
    for name in pl.__all__:
        doc = getattr(pl, name).__doc__
        assert doc and "Examples" in doc and "Returns" in doc, name
    assert np.all([callable(getattr(pl, n)) for n in pl.__all__])
