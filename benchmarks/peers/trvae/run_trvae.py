"""Run the peer method trVAE (scArches' ``TRVAE``, PyPI ``scarches==0.6.1``) on scotm's folds.

Runs inside trVAE's own venv (``setup.sh``), never scotm's. It reads the preprocessed data that
``benchmarks/peers/export_kang.py`` wrote, builds each fold as ``scotm.benchmark.holdout_split``
does (training = every cell except the held-out type's perturbed cells), trains a TRVAE
conditioned on ``condition`` and predicts the held-out type's perturbed cells as trVAE does:
encode its control cells with the control label, decode them with the perturbed label.

scArches' TRVAE has no perturbation ``predict`` of its own (it is built for reference mapping),
so the two prediction lines call the model's own encoder and decoder:
``model.model.get_latent(x, c_control, mean=True)`` and ``model.model.decoder(z, c_perturbed)``.

Settings, every deviation from the package defaults (also in each fold's JSON):
- ``recon_loss="mse"`` (default ``"nb"``): scotm's data are log-normalised, and the package's
  docstring asks for ``"mse"`` on normalised log-transformed data (``"nb"`` needs counts);
- ``mmd_on="y"`` (default ``"z"``): trVAE's MMD term on the decoder's first layer, the trVAE
  paper's design; scArches' default ``"z"`` is its batch-integration setting;
- prediction from the latent mean (no sampling).
Everything else is the default: ``hidden_layer_sizes=[256, 64]``, ``latent_dim=10``,
``dr_rate=0.05``, ``use_mmd=True``, ``beta=1``, ``use_ln=True``; ``train(n_epochs=400, lr=1e-3,
eps=0.01)`` with the trainer's defaults (batch 128, 10% validation, early stopping with
patience 20 on the validation loss, best state reloaded, trainer seed 2020).

    .venv/bin/python run_trvae.py --data kang_prepared.h5ad --out OUT [HOLDOUT ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import peerlib  # noqa: E402  (sets the one-thread environment before torch loads)

# isort: split

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402
from scarches.models import TRVAE  # noqa: E402
from scarches.trainers.trvae.trainer import Trainer  # noqa: E402

MODEL_KW = {"recon_loss": "mse", "mmd_on": "y"}


def fit_predict(train, ctrl, holdout, args):
    clock = peerlib.Clock()
    model = TRVAE(
        train,
        condition_key=peerlib.CONDITION_KEY,
        conditions=[peerlib.CONTROL, peerlib.PERTURBED],
        **MODEL_KW,
    )
    model.train(**({} if args.epochs is None else {"n_epochs": args.epochs}))
    extra = clock.fit_done()
    trainer = model.trainer
    extra["epochs"] = int(trainer.epoch) + 1
    extra["best_epoch"] = getattr(trainer, "best_epoch", None)
    net = model.model
    net.eval()
    X = ctrl.X.toarray() if sp.issparse(ctrl.X) else np.asarray(ctrl.X)
    x = torch.tensor(X, dtype=torch.float32)
    enc = net.condition_encoder
    with torch.no_grad():
        z = net.get_latent(x, torch.full((len(x),), enc[peerlib.CONTROL]), mean=True)
        pred, _ = net.decoder(z, torch.full((len(x),), enc[peerlib.PERTURBED]))
    return pred.numpy(), extra


def settings(args, adata):
    return {
        "package": f"scarches=={peerlib.version('scarches')}",
        "model": {**peerlib.defaults(TRVAE.__init__), **MODEL_KW},
        "train": {
            **peerlib.defaults(TRVAE.train),
            **({} if args.epochs is None else {"n_epochs": args.epochs}),
        },
        "trainer": peerlib.defaults(Trainer.__init__),
        "predict": "encode control cells with label control (latent mean), decode with stimulated",
        "versions": peerlib.versions("torch", "scvi-tools", "scanpy", "anndata", "numpy"),
    }


if __name__ == "__main__":
    peerlib.main(
        "trvae",
        fit_predict,
        settings,
        doc=__doc__,
        epochs_help="most training epochs; default: the package's own (TRVAE.train's n_epochs=400, "
        "with its early stopping)",
    )
