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

Scoring is not done here: ``benchmarks/peers/score_predictions.py`` rescores every prediction
with ``scotm.metrics.evaluate`` from scotm's venv, so scPRAM is judged by the one pinned protocol.

    .venv/bin/python run_scpram.py --data kang_prepared.h5ad --out OUT [HOLDOUT ...]
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy/torch load their thread pools (matches the reference).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402
from scpram import models  # noqa: E402

CONDITION_KEY, CONTROL, PERTURBED, CELL_TYPE_KEY = "condition", "control", "stimulated", "cell_type"
KEY_DIC = {
    "condition_key": CONDITION_KEY,
    "cell_type_key": CELL_TYPE_KEY,
    "ctrl_key": CONTROL,
    "stim_key": PERTURBED,
    "pred_key": "predicted",
}


def safe(name: str) -> str:
    """File name for a cell type; the same rule as ``scotm.benchmark.safe_name``."""
    return "".join(ch if ch.isalnum() or ch in " +-_." else "_" for ch in name)


def cell_types(adata: ad.AnnData) -> list[str]:
    """Cell types largest first, as ``scotm.benchmark.cell_types`` orders them."""
    return list(adata.obs[CELL_TYPE_KEY].astype(str).value_counts().index)


def holdout_split(adata: ad.AnnData, holdout: str) -> tuple[ad.AnnData, ad.AnnData]:
    """(train, ctrl) of held-out ``holdout``: the masks of ``scotm.benchmark.holdout_split``."""
    types = adata.obs[CELL_TYPE_KEY].astype(str).to_numpy()
    cond = adata.obs[CONDITION_KEY].astype(str).to_numpy()
    in_h = types == holdout
    is_ctrl, is_pert = cond == CONTROL, cond == PERTURBED
    if not (in_h & is_ctrl).any() or not (in_h & is_pert).any():
        raise SystemExit(f"cell type {holdout!r} lacks control or perturbed cells")
    train_mask = (is_ctrl | is_pert) & ~(in_h & is_pert)
    return adata[train_mask].copy(), adata[in_h & is_ctrl].copy()


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def defaults(fn) -> dict:
    """Keyword defaults of a scPRAM function, read from the installed package."""
    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty and k not in ("device",)
    }


def run_fold(
    adata: ad.AnnData, holdout: str, seed: int, epochs: int | None = None
) -> tuple[ad.AnnData, dict]:
    train, ctrl = holdout_split(adata, holdout)
    seed_all(seed)
    c0, t0 = time.process_time(), time.perf_counter()
    # Package defaults throughout: SCPRAM(latent_dim=100, hidden_dim=1000, noise_rate=0.1,
    # kl_weight=5e-4), train_SCPRAM(epochs=100, batch_size=128, lr=5e-4), predict(ratio=0.05).
    model = models.SCPRAM(input_dim=adata.n_vars, device=torch.device("cpu"))
    model = model.to(model.device)
    model.train_SCPRAM(train, **({} if epochs is None else {"epochs": epochs}))
    c1, t1 = time.process_time(), time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = model.predict(train_adata=train, cell_to_pred=holdout, key_dic=KEY_DIC)
    c2, t2 = time.process_time(), time.perf_counter()
    if not np.array_equal(pred.obs_names, ctrl.obs_names):
        raise SystemExit(f"{holdout}: scPRAM predicted other cells than the held-out controls")
    X = np.asarray(pred.X, dtype=np.float32)
    out = ad.AnnData(
        X=sp.csr_matrix(X),
        obs=ctrl.obs[[CELL_TYPE_KEY]].assign(**{CONDITION_KEY: "predicted"}),
        var=ctrl.var[[]].copy(),
    )
    out.var_names = ctrl.var_names
    timing = {
        "holdout": holdout,
        "fit_s": t1 - t0,
        "predict_s": t2 - t1,
        "wall_s": t2 - t0,
        # CPU seconds of this process: with one thread, the wall time an idle machine would show
        "fit_cpu_s": c1 - c0,
        "predict_cpu_s": c2 - c1,
        "cpu_s": c2 - c0,
        "epochs": epochs if epochs is not None else defaults(models.SCPRAM.train_SCPRAM)["epochs"],
        "n_train": int(train.n_obs),
        "n_ctrl": int(ctrl.n_obs),
        "seed": seed,
        "warnings": sorted({str(w.message).splitlines()[0][:200] for w in caught}),
    }
    return out, timing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("holdouts", nargs="*", help="cell types to hold out (default: all)")
    parser.add_argument("--data", required=True, type=Path, help="h5ad from export_kang.py")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (reference: 1)")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs; default: the package's own (train_SCPRAM's epochs=100)",
    )
    parser.add_argument("--force", action="store_true", help="redo folds already predicted")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    adata = ad.read_h5ad(args.data)
    holdouts = args.holdouts or cell_types(adata)
    unknown = sorted(set(holdouts) - set(cell_types(adata)))
    if unknown:
        raise SystemExit(f"unknown cell type(s) {unknown}; choose from {cell_types(adata)}")

    pred_dir = args.out / "predictions" / "scpram"
    pred_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "package": f"scpram=={version('scpram')}",
        "model": {**defaults(models.SCPRAM.__init__), "input_dim": int(adata.n_vars)},
        "train_SCPRAM": defaults(models.SCPRAM.train_SCPRAM),
        "predict": defaults(models.SCPRAM.predict),
        "key_dic": KEY_DIC,
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "versions": {
            p: version(p) for p in ("torch", "scanpy", "anndata", "numpy", "pot", "scipy")
        },
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "data": str(args.data),
    }
    if args.epochs is not None:
        settings["train_SCPRAM"]["epochs"] = args.epochs

    for i, holdout in enumerate(holdouts, 1):
        path = pred_dir / f"{safe(holdout)}.h5ad"
        timing_path = path.with_suffix(".json")
        want_epochs = settings["train_SCPRAM"]["epochs"]
        if path.exists() and timing_path.exists() and not args.force:
            if json.loads(timing_path.read_text()).get("epochs") == want_epochs:
                print(f"[{i}/{len(holdouts)}] {holdout}: done before, skipped", flush=True)
                continue
        print(f"[{i}/{len(holdouts)}] {holdout}: training scPRAM ...", flush=True)
        pred, timing = run_fold(adata, holdout, args.seed, args.epochs)
        tmp = path.with_name(f".{path.name}.tmp")
        pred.write_h5ad(tmp)
        os.replace(tmp, path)
        tmp = timing_path.with_name(f".{timing_path.name}.tmp")
        tmp.write_text(json.dumps({**timing, "settings": settings}, indent=1))
        os.replace(tmp, timing_path)
        print(
            f"[{i}/{len(holdouts)}] {holdout}: fit {timing['fit_s']:.0f} s, "
            f"predict {timing['predict_s']:.1f} s -> {path}",
            flush=True,
        )


if __name__ == "__main__":
    main()
