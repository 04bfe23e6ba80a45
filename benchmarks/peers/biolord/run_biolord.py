"""Run the peer method biolord (PyPI ``biolord==0.0.3``) on scotm's leave-one-cell-type-out folds.

Runs inside biolord's own venv (``setup.sh``), never scotm's. It reads the preprocessed data that
``benchmarks/peers/export_kang.py`` wrote, builds each fold as ``scotm.benchmark.holdout_split``
does (training = every cell except the held-out type's perturbed cells), trains ``Biolord`` with
``cell_type`` and ``condition`` as categorical attributes, and predicts the held-out type's
perturbed cells with the package's own ``compute_prediction_adata(train, held-out controls,
target_attributes=["condition"])``, keeping the rows it predicts for ``stimulated``: each
held-out control cell keeps its own learned unknown-attribute code and cell type, and takes the
perturbed condition's embedding.

Settings: package defaults (``Biolord(n_latent=128)``, ``BiolordModule``'s and
``biolordTrainingPlan``'s defaults, ``train()``: ``max_epochs=None`` ->
``min(round(20000 / n_cells * 400), 400)``, 400 on every Kang fold, ``batch_size=128``, no early
stopping), with one deviation:
- the validation cells. By default ``train`` draws 10% of all cells at random as validation, and
  biolord never trains the per-cell code of a validation cell; a held-out control cell drawn
  there would be predicted from an untrained code. Here the validation set is 10% of the
  training cells drawn (seeded) from the other cell types only (``split_key``), so every
  held-out control cell is trained, as a fold of scotm's protocol trains on all of them.
and one workaround: the default ``max_epochs`` is passed as the same number, computed here as a
Python int, because biolord computes it with ``np.min`` and Lightning 2.0.9 asserts an int
(an ``AssertionError`` before the first epoch otherwise).
``--epochs`` overrides ``max_epochs`` (see the README for what ``results/`` used and why).

    .venv/bin/python run_biolord.py --data kang_prepared.h5ad --out OUT [HOLDOUT ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import peerlib  # noqa: E402  (sets the one-thread environment before torch loads)

# isort: split

import biolord  # noqa: E402
import numpy as np  # noqa: E402
from biolord._module import BiolordModule  # noqa: E402
from biolord._train import biolordTrainingPlan  # noqa: E402

SPLIT_KEY, VALID_FRACTION = "biolord_split", 0.1


def default_epochs(n_cells: int) -> int:
    """``Biolord.train``'s default ``max_epochs`` (biolord 0.0.3), as a Python int."""
    return int(min(round((20000 / n_cells) * 400), 400))


def fit_predict(train, ctrl, holdout, args):
    clock = peerlib.Clock()
    rng = np.random.default_rng(args.seed)
    others = np.flatnonzero(train.obs[peerlib.CELL_TYPE_KEY].astype(str).to_numpy() != holdout)
    valid = rng.choice(others, size=round(VALID_FRACTION * train.n_obs), replace=False)
    split = np.full(train.n_obs, "train", dtype=object)
    split[valid] = "test"  # biolord's name for its validation split (valid_split="test")
    train.obs[SPLIT_KEY] = split
    biolord.Biolord.setup_anndata(
        train, categorical_attributes_keys=[peerlib.CELL_TYPE_KEY, peerlib.CONDITION_KEY]
    )
    model = biolord.Biolord(train, split_key=SPLIT_KEY)
    kw = {"accelerator": "cpu", "enable_progress_bar": True}
    # biolord's own default, min(round(20000 / n_cells * 400), 400), given as a Python int:
    # the package computes it with np.min, and Lightning 2.0's fit loop asserts an int
    # ("assert isinstance(self.max_epochs, int)": AssertionError at the start of training)
    kw["max_epochs"] = args.epochs if args.epochs is not None else default_epochs(train.n_obs)
    model.train(**kw)
    extra = clock.fit_done()
    extra["epochs"] = int(model.trainer.current_epoch) if getattr(model, "trainer", None) else None
    source = train[train.obs_names.isin(ctrl.obs_names)]
    pred = model.compute_prediction_adata(train, source, target_attributes=[peerlib.CONDITION_KEY])
    pred = pred[pred.obs[peerlib.CONDITION_KEY].astype(str) == peerlib.PERTURBED]
    names = [f"{n}_{peerlib.PERTURBED}" for n in ctrl.obs_names]
    if set(pred.obs_names) != set(names):
        raise SystemExit(f"{holdout}: biolord predicted other cells than the held-out controls")
    return np.asarray(pred[names].X), extra


def settings(args, adata):
    train = peerlib.defaults(biolord.Biolord.train)
    if args.epochs is not None:
        train["max_epochs"] = args.epochs
    return {
        "package": f"biolord=={peerlib.version('biolord')}",
        "model": peerlib.defaults(biolord.Biolord.__init__),
        "module": peerlib.defaults(BiolordModule.__init__),
        "plan": peerlib.defaults(biolordTrainingPlan.__init__),
        "train": {**train, "accelerator": "cpu"},
        "validation": f"{VALID_FRACTION:.0%} of the training cells, other cell types only",
        "versions": peerlib.versions(
            "torch", "scvi-tools", "lightning", "scanpy", "anndata", "numpy"
        ),
    }


if __name__ == "__main__":
    peerlib.main("biolord", fit_predict, settings, doc=__doc__)
