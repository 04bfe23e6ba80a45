"""Every scotm.pl figure, rendered from a small real-data run, saves as a valid image.

Four Kang cell types, 150 cells per type and condition, NK cells held out; a small SCOTM
trained for a few epochs and the mean-shift baseline. Each figure is saved as PNG and PDF; the
PNG must decode to a sensibly sized image, the PDF must be a complete PDF file.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests only: the library never picks a backend

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from scotm import SCOTM, metrics, pl, pp  # noqa: E402
from scotm.baselines import MeanShift  # noqa: E402
from scotm.benchmark import holdout_split  # noqa: E402

from .test_pl import PLOTS  # noqa: E402  (the same seven figures as the toy-data tests)

pytestmark = pytest.mark.kang

CELL_TYPES = ("B", "CD14+ Monocytes", "NK cells", "DC")
HOLDOUT = "NK cells"
PER_GROUP = 150


@pytest.fixture(scope="module")
def run():
    """A small real-data run: the fold, the model, its prediction, the DEGs and a table."""
    import torch

    from scotm.datasets import kang

    full = kang()
    obs = full.obs
    rng = np.random.default_rng(0)
    keep = []
    for ct in CELL_TYPES:
        for cond in ("control", "stimulated"):
            idx = np.flatnonzero(((obs.cell_type == ct) & (obs.condition == cond)).to_numpy())
            keep.append(rng.choice(idx, PER_GROUP, replace=False))
    adata = pp.prepare(full[np.sort(np.concatenate(keep))].copy())
    fold = holdout_split(adata, HOLDOUT)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # the plots do not depend on the cell prior; without it this gene list needs no
        # first-time text-model run (tests/test_cell_prior.py covers the prior)
        model = SCOTM(fold.train, hidden=(128,), n_latent=16, max_epochs=6, cell_prior="none")
        model.train(progress=False)
    finally:
        torch.set_num_threads(threads)
    pred = model.predict(fold.ctrl)
    degs = metrics.top_degs(fold.ctrl, fold.real)
    rows = []
    for method, p in (
        ("scotm", pred),
        ("mean_shift", MeanShift().fit(fold.train).predict(fold.ctrl)),
    ):
        rows.append(
            {
                "holdout": HOLDOUT,
                "method": method,
                **metrics.evaluate(fold.ctrl, fold.real, p, degs),
            }
        )
    return {"fold": fold, "model": model, "pred": pred, "degs": degs, "table": pd.DataFrame(rows)}


def draw(name: str, run):
    fold, pred, model, degs = run["fold"], run["pred"], run["model"], run["degs"]
    return {
        "mean_regression": lambda: pl.mean_regression(fold.ctrl, fold.real, pred, degs),
        "embedding": lambda: pl.embedding(fold.ctrl, fold.real, pred),
        "deg_violins": lambda: pl.deg_violins(fold.ctrl, fold.real, pred, genes=degs[:8]),
        "fold_bars": lambda: pl.fold_bars(run["table"], "delta_r_deg"),
        "shift_sources": lambda: pl.shift_sources(pred),
        "ot_pairing": lambda: pl.ot_pairing(model, n_pairs=200),
        "training_curves": lambda: pl.training_curves(model),
    }[name]()


def test_the_run_is_real_data(run):
    fold = run["fold"]
    assert fold.ctrl.n_obs == fold.real.n_obs == PER_GROUP and fold.ctrl.n_vars == 2000
    assert len(run["degs"]) == 100 and "ISG15" in run["degs"][:20]  # the interferon response
    assert set(run["pred"].uns["scotm"]["shift_sources"]) <= set(CELL_TYPES) - {HOLDOUT}
    assert len(run["model"].history) == 6


@pytest.mark.parametrize("name", PLOTS)
def test_figure_saves_as_valid_png_and_pdf(name, run, tmp_path):
    fig = draw(name, run)
    png = pl.save(fig, tmp_path / f"{name}.png", dpi=150)
    pdf = pl.save(fig, tmp_path / f"{name}.pdf")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpimg.imread(png)  # decodes the whole PNG
    height, width = image.shape[:2]
    # 150 dpi: a figure of 3 to 15 inches a side, not a sliver or a runaway canvas
    assert 400 <= width <= 2500 and 300 <= height <= 2500, (width, height)
    assert image.shape[2] in (3, 4) and np.ptp(image[..., :3]) > 0.5  # not a blank canvas
    body = pdf.read_bytes()
    assert body[:5] == b"%PDF-" and body.rstrip().endswith(b"%%EOF") and len(body) > 5_000
