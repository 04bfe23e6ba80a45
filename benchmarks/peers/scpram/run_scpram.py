"""Run the peer method scPRAM (PyPI ``scpram==0.0.3``) on scotm's leave-one-cell-type-out folds.

Runs inside scPRAM's own venv (``setup.sh``), never scotm's. It reads the preprocessed data that
``benchmarks/peers/export_kang.py`` wrote from scotm's venv, builds each fold exactly as
``scotm.benchmark.holdout_split`` does (training = every cell except the held-out type's
perturbed cells), trains scPRAM at its default settings and predicts the held-out type's
perturbed cells from its control cells with the package's own ``SCPRAM.predict``.

Writes, for ``<out>``:
- ``predictions/scpram/<cell type>.h5ad``: predicted log-normalised cells x the same genes,
  file names as ``scotm.benchmark.safe_name`` makes them;
- ``predictions/scpram/<cell type>.json``: that fold's seconds for training and prediction
  (wall time, one torch thread), the settings and the package versions.

Folds are independent, so several processes may share one ``<out>`` (``run_scpram.sh --jobs``).
The folds, seeding, timing and the two files are ``peerlib``'s, as for every other peer.

Scoring is not done here: ``benchmarks/peers/score_predictions.py`` rescores every prediction
with ``scotm.metrics.evaluate`` from scotm's venv, so scPRAM is judged by the one pinned protocol.

    .venv/bin/python run_scpram.py --data kang_prepared.h5ad --out OUT [HOLDOUT ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import peerlib  # noqa: E402  (sets the one-thread environment before torch loads)

# isort: split

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scpram import models  # noqa: E402

KEY_DIC = {
    "condition_key": peerlib.CONDITION_KEY,
    "cell_type_key": peerlib.CELL_TYPE_KEY,
    "ctrl_key": peerlib.CONTROL,
    "stim_key": peerlib.PERTURBED,
    "pred_key": "predicted",
}


def fit_predict(train, ctrl, holdout, args):
    clock = peerlib.Clock()
    # Package defaults throughout: SCPRAM(latent_dim=100, hidden_dim=1000, noise_rate=0.1,
    # kl_weight=5e-4), train_SCPRAM(epochs=100, batch_size=128, lr=5e-4), predict(ratio=0.05).
    model = models.SCPRAM(input_dim=train.n_vars, device=torch.device("cpu"))
    model = model.to(model.device)
    model.train_SCPRAM(train, **({} if args.epochs is None else {"epochs": args.epochs}))
    extra = clock.fit_done()
    extra["epochs"] = (
        args.epochs
        if args.epochs is not None
        else peerlib.defaults(models.SCPRAM.train_SCPRAM)["epochs"]
    )
    pred = model.predict(train_adata=train, cell_to_pred=holdout, key_dic=KEY_DIC)
    if not np.array_equal(pred.obs_names, ctrl.obs_names):
        raise SystemExit(f"{holdout}: scPRAM predicted other cells than the held-out controls")
    return np.asarray(pred.X, dtype=np.float32), extra


def settings(args, adata):
    train = peerlib.defaults(models.SCPRAM.train_SCPRAM)
    if args.epochs is not None:
        train["epochs"] = args.epochs
    return {
        "package": f"scpram=={peerlib.version('scpram')}",
        "model": {**peerlib.defaults(models.SCPRAM.__init__), "input_dim": int(adata.n_vars)},
        "train_SCPRAM": train,
        "predict": peerlib.defaults(models.SCPRAM.predict),
        "key_dic": KEY_DIC,
        "torch_threads": torch.get_num_threads(),
        "versions": peerlib.versions("torch", "scanpy", "anndata", "numpy", "pot", "scipy"),
    }


if __name__ == "__main__":
    peerlib.main(
        "scpram",
        fit_predict,
        settings,
        doc=__doc__,
        epochs_help="training epochs; default: the package's own (train_SCPRAM's epochs=100)",
    )
