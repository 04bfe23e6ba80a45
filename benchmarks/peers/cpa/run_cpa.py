"""Run the peer method CPA (PyPI ``cpa-tools==0.8.8``) on scotm's leave-one-cell-type-out folds.

Runs inside CPA's own venv (``setup.sh``; the README says how it differs from CPA's declared
pins), never scotm's. It reads the preprocessed data that ``benchmarks/peers/export_kang.py``
wrote and builds each fold as ``scotm.benchmark.holdout_split`` does (training = every cell
except the held-out type's perturbed cells).

CPA predicts counterfactually: a cell's basal state is encoded from its expression, the
perturbation's and covariates' embeddings are added, and the sum is decoded. The package's own
``predict`` docstring says how: give it cells whose expression is the control cells' and whose
labels are the target condition. So the AnnData CPA sees is the training cells plus a copy of the
held-out control cells labelled ``stimulated`` in split ``ood`` (CPA never trains on that split);
``CPA.predict`` on those copies is the prediction.

Settings: ``setup_anndata(perturbation_key="condition", control_group="control",
categorical_covariate_keys=["cell_type"], is_count_data=False, max_comb_len=1)``;
``CPA(recon_loss="gauss")`` (the default ``"nb"`` needs counts; ours are log-normalised), every
other module default; ``train()`` defaults (``max_epochs=None`` -> 400 on every Kang fold,
``batch_size=128``, validation every 10 epochs, patience 10) except ``use_gpu=False`` and
``--epochs``; the validation split is 10% of the training cells drawn at random (seeded), as
``train_size=0.9`` would draw it. One workaround, no change of value: the default
``max_epochs`` is passed as the same number, computed here as a Python int (see
``default_epochs``). Each fold's JSON records the epochs trained (``epochs``; early stopping
may end training before ``max_epochs``) and the ``validations`` run, from CPA's own epoch history.

    .venv/bin/python run_cpa.py --data kang_prepared.h5ad --out OUT [HOLDOUT ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import peerlib  # noqa: E402  (sets the one-thread environment before torch loads)

# isort: split

import anndata as ad  # noqa: E402
import cpa  # noqa: E402
import numpy as np  # noqa: E402

SPLIT_KEY, VALID_FRACTION = "cpa_split", 0.1
SETUP = {
    "perturbation_key": peerlib.CONDITION_KEY,
    "control_group": peerlib.CONTROL,
    "categorical_covariate_keys": [peerlib.CELL_TYPE_KEY],
    "is_count_data": False,
    "max_comb_len": 1,
}
MODEL_KW = {"recon_loss": "gauss"}


def default_epochs(n_cells: int) -> int:
    """``CPA.train``'s default ``max_epochs`` (cpa-tools 0.8.8), as a Python int."""
    return int(min(round((20000 / n_cells) * 400), 400))


def fit_predict(train, ctrl, holdout, args):
    clock = peerlib.Clock()
    rng = np.random.default_rng(args.seed)
    split = np.full(train.n_obs, "train", dtype=object)
    split[rng.choice(train.n_obs, size=round(VALID_FRACTION * train.n_obs), replace=False)] = "test"
    query = ctrl.copy()
    query.obs_names = [f"{n}__query" for n in ctrl.obs_names]
    query.obs[peerlib.CONDITION_KEY] = peerlib.PERTURBED
    both = ad.concat([train, query])
    both.obs[SPLIT_KEY] = np.concatenate([split, np.full(query.n_obs, "ood", dtype=object)])
    for key in (peerlib.CONDITION_KEY, peerlib.CELL_TYPE_KEY):
        both.obs[key] = both.obs[key].astype(str)
    cpa.CPA.setup_anndata(both, **SETUP)
    model = cpa.CPA(both, split_key=SPLIT_KEY, **MODEL_KW)
    # max_epochs=None would make CPA compute its default with np.min, a numpy int, and the fit
    # loop of pytorch-lightning 1.9.5 asserts a Python int ("assert isinstance(self.max_epochs,
    # int)": AssertionError before the first epoch); so the same default is passed as an int
    kw = {"use_gpu": False, "max_epochs": default_epochs(both.n_obs)}
    if args.epochs is not None:
        kw["max_epochs"] = args.epochs
    model.train(**kw)
    extra = clock.fit_done()
    # epochs trained, as every peer records them (early stopping may end training before
    # max_epochs), and the validations run: CPA's own epoch history
    mode = np.asarray(model.epoch_history["mode"])
    extra["epochs"] = int((mode == "train").sum())
    extra["max_epochs"] = int(model.trainer.max_epochs)
    extra["validations"] = int((mode == "valid").sum())
    is_query = (both.obs[SPLIT_KEY] == "ood").to_numpy()
    target = both[is_query].copy()
    model.predict(target)
    pred = np.asarray(target.obsm["CPA_pred"])
    if list(target.obs_names) != list(query.obs_names):
        raise SystemExit(f"{holdout}: CPA predicted other cells than the held-out controls")
    return pred, extra


def settings(args, adata):
    train = peerlib.defaults(cpa.CPA.train)
    if args.epochs is not None:
        train["max_epochs"] = args.epochs
    return {
        "package": f"cpa-tools=={peerlib.version('cpa-tools')}",
        "setup_anndata": SETUP,
        "module": {**peerlib.defaults(cpa.CPAModule.__init__), **MODEL_KW},
        "train": {**train, "use_gpu": False},
        "validation": f"{VALID_FRACTION:.0%} of the training cells at random",
        "versions": peerlib.versions(
            "torch", "scvi-tools", "pytorch-lightning", "lightning", "anndata", "numpy"
        ),
    }


if __name__ == "__main__":
    peerlib.main("cpa", fit_predict, settings, doc=__doc__)
