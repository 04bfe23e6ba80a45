"""Run the peer method scGen (PyPI ``scgen==2.1.0``) on scotm's leave-one-cell-type-out folds.

Runs inside scGen's own venv (``setup.sh``), never scotm's. It reads the preprocessed data that
``benchmarks/peers/export_kang.py`` wrote, builds each fold as ``scotm.benchmark.holdout_split``
does (training = every cell except the held-out type's perturbed cells), trains ``SCGEN`` and
predicts the held-out type's perturbed cells from its control cells with the package's own
``SCGEN.predict(ctrl_key, stim_key, celltype_to_predict=holdout)`` (latent vector arithmetic:
the mean latent shift between cell-type-balanced perturbed and control training cells, added to
the held-out control cells' latent means, decoded).

Settings: package defaults throughout, ``SCGEN(n_hidden=800, n_latent=100, n_layers=2,
dropout_rate=0.2)``, ``SCGENVAE(kl_weight=5e-5)``, ``train()`` as scvi-tools' unsupervised
training mixin defines it (``max_epochs=None`` -> ``min(round(20000 / n_cells * 400), 400)``,
400 on every Kang fold; ``batch_size=128``, ``train_size=0.9``, no early stopping), except
``--epochs`` when given (see the README for what ``results/`` used and why).

    .venv/bin/python run_scgen.py --data kang_prepared.h5ad --out OUT [HOLDOUT ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import peerlib  # noqa: E402  (sets the one-thread environment before torch loads)

# isort: split

import numpy as np  # noqa: E402
import scgen  # noqa: E402
from scvi.model.base import UnsupervisedTrainingMixin  # noqa: E402


def fit_predict(train, ctrl, holdout, args):
    clock = peerlib.Clock()
    scgen.SCGEN.setup_anndata(
        train, batch_key=peerlib.CONDITION_KEY, labels_key=peerlib.CELL_TYPE_KEY
    )
    model = scgen.SCGEN(train)
    kw = {"use_gpu": False}
    if args.epochs is not None:
        kw["max_epochs"] = args.epochs
    model.train(**kw)
    extra = clock.fit_done()
    history = model.history.get("elbo_train")
    extra["epochs"] = int(len(history)) if history is not None else None
    pred, _delta = model.predict(
        ctrl_key=peerlib.CONTROL, stim_key=peerlib.PERTURBED, celltype_to_predict=holdout
    )
    if set(pred.obs_names) != set(ctrl.obs_names):
        raise SystemExit(f"{holdout}: scGen predicted other cells than the held-out controls")
    pred = pred[ctrl.obs_names]
    return np.asarray(pred.X), extra


def settings(args, adata):
    train = peerlib.defaults(UnsupervisedTrainingMixin.train)
    if args.epochs is not None:
        train["max_epochs"] = args.epochs
    return {
        "package": f"scgen=={peerlib.version('scgen')}",
        "model": peerlib.defaults(scgen.SCGEN.__init__),
        "module": peerlib.defaults(scgen.SCGENVAE.__init__),
        "train": {**train, "use_gpu": False},
        "predict": {"restrict_arithmetic_to": "all"},
        "versions": peerlib.versions(
            "torch", "scvi-tools", "pytorch-lightning", "scanpy", "anndata", "numpy"
        ),
    }


if __name__ == "__main__":
    peerlib.main("scgen", fit_predict, settings, doc=__doc__)
