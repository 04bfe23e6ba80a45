"""What every peer's run script shares: scotm's folds, seeding, timing and the output files.

Imported by ``<peer>/run_<peer>.py`` inside that peer's own venv, so it needs only anndata,
numpy and scipy (no scotm, no torch at import time). The folds are the masks of
``scotm.benchmark.holdout_split``; file names are ``scotm.benchmark._safe``'s; the files written
are those ``score_predictions.py`` rescores.

A run script defines ``fit_predict(train, ctrl, holdout, args) -> (X_pred, extra)`` and calls
``main(name, fit_predict, settings)`` (every peer takes ``--epochs``; ``add_args`` adds more).
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy/torch load their thread pools (the reference setting).
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
from collections.abc import Callable  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from pathlib import Path  # noqa: E402

import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

CONDITION_KEY, CONTROL, PERTURBED, CELL_TYPE_KEY = "condition", "control", "stimulated", "cell_type"


def safe(name: str) -> str:
    """File name for a cell type; the same rule as ``scotm.benchmark._safe``."""
    return "".join(ch if ch.isalnum() or ch in " +-_." else "_" for ch in name)


def cell_types(adata: ad.AnnData) -> list[str]:
    """Cell types largest first, as ``scotm.benchmark.cell_types`` orders them."""
    return list(adata.obs[CELL_TYPE_KEY].astype(str).value_counts().index)


def holdout_split(adata: ad.AnnData, holdout: str) -> tuple[ad.AnnData, ad.AnnData]:
    """(train, ctrl) of held-out ``holdout``: the masks of ``scotm.benchmark.holdout_split``.

    ``train`` is every cell except the held-out type's perturbed cells (so it holds the held-out
    type's control cells); ``ctrl`` is the held-out type's control cells, to be predicted.
    """
    types = adata.obs[CELL_TYPE_KEY].astype(str).to_numpy()
    cond = adata.obs[CONDITION_KEY].astype(str).to_numpy()
    in_h = types == holdout
    is_ctrl, is_pert = cond == CONTROL, cond == PERTURBED
    if not (in_h & is_ctrl).any() or not (in_h & is_pert).any():
        raise SystemExit(f"cell type {holdout!r} lacks control or perturbed cells")
    train_mask = (is_ctrl | is_pert) & ~(in_h & is_pert)
    return adata[train_mask].copy(), adata[in_h & is_ctrl].copy()


def seed_all(seed: int) -> None:
    """Seed ``random``, numpy and (when installed) torch."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


def defaults(fn: Callable) -> dict:
    """Keyword defaults of a peer's function, read from the installed package."""
    out = {}
    for k, p in inspect.signature(fn).parameters.items():
        if p.default is inspect.Parameter.empty or k in ("device", "self"):
            continue
        v = p.default
        out[k] = v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else repr(v)
    return out


def versions(*packages: str) -> dict:
    out = {}
    for p in packages:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def run_fold(adata: ad.AnnData, holdout: str, seed: int, fit_predict, args) -> tuple:
    train, ctrl = holdout_split(adata, holdout)
    seed_all(seed)
    c0, t0 = time.process_time(), time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, extra = fit_predict(train, ctrl, holdout, args)
    c2, t2 = time.process_time(), time.perf_counter()
    fit_s, fit_cpu_s = extra.pop("fit_s"), extra.pop("fit_cpu_s")
    X = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)
    if X.shape != ctrl.shape:
        raise SystemExit(f"{holdout}: prediction has shape {X.shape}, want {ctrl.shape}")
    out = ad.AnnData(
        X=sp.csr_matrix(X),
        obs=ctrl.obs[[CELL_TYPE_KEY]].assign(**{CONDITION_KEY: "predicted"}),
        var=ctrl.var[[]].copy(),
    )
    out.var_names = ctrl.var_names
    timing = {
        "holdout": holdout,
        "fit_s": fit_s,
        "predict_s": (t2 - t0) - fit_s,
        "wall_s": t2 - t0,
        # CPU seconds of this process: with one thread, the wall time an idle machine would show
        "fit_cpu_s": fit_cpu_s,
        "predict_cpu_s": (c2 - c0) - fit_cpu_s,
        "cpu_s": c2 - c0,
        "n_train": int(train.n_obs),
        "n_ctrl": int(ctrl.n_obs),
        "seed": seed,
        **extra,
        "warnings": sorted({str(w.message).splitlines()[0][:200] for w in caught}),
    }
    return out, timing


class Clock:
    """Marks the end of training inside ``fit_predict``: ``extra.update(clock.fit_done())``."""

    def __init__(self) -> None:
        self.c0, self.t0 = time.process_time(), time.perf_counter()

    def fit_done(self) -> dict:
        return {
            "fit_s": time.perf_counter() - self.t0,
            "fit_cpu_s": time.process_time() - self.c0,
        }


def main(
    name: str,
    fit_predict: Callable,
    settings: Callable[[argparse.Namespace, ad.AnnData], dict],
    add_args: Callable[[argparse.ArgumentParser], None] | None = None,
    doc: str = "",
    argv: list[str] | None = None,
    epochs_help: str = "training epochs; default: the package's own (400 on every Kang fold)",
) -> None:
    """Parse the common arguments, run every fold not done before, write its two files.

    Every peer takes ``--epochs`` (``None``: the package's default, described by
    ``epochs_help``); ``add_args`` adds a peer's own arguments.

    A fold is skipped when its prediction and JSON exist and the JSON's ``settings`` equal this
    run's (so a changed epoch count reruns it), unless ``--force``.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else name)
    parser.add_argument("holdouts", nargs="*", help="cell types to hold out (default: all)")
    parser.add_argument("--data", required=True, type=Path, help="h5ad from export_kang.py")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (reference: 1)")
    parser.add_argument("--force", action="store_true", help="redo folds already predicted")
    parser.add_argument("--epochs", type=int, default=None, help=epochs_help)
    if add_args is not None:
        add_args(parser)
    args = parser.parse_args(argv)

    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    adata = ad.read_h5ad(args.data)
    holdouts = args.holdouts or cell_types(adata)
    unknown = sorted(set(holdouts) - set(cell_types(adata)))
    if unknown:
        raise SystemExit(f"unknown cell type(s) {unknown}; choose from {cell_types(adata)}")

    pred_dir = args.out / "predictions" / name
    pred_dir.mkdir(parents=True, exist_ok=True)
    info = {
        **settings(args, adata),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "data": str(args.data),
        "seed": args.seed,
    }
    info = json.loads(json.dumps(info, default=repr))

    for i, holdout in enumerate(holdouts, 1):
        path = pred_dir / f"{safe(holdout)}.h5ad"
        timing_path = path.with_suffix(".json")
        if path.exists() and timing_path.exists() and not args.force:
            if json.loads(timing_path.read_text()).get("settings") == info:
                print(f"[{i}/{len(holdouts)}] {holdout}: done before, skipped", flush=True)
                continue
        print(f"[{i}/{len(holdouts)}] {holdout}: training {name} ...", flush=True)
        pred, timing = run_fold(adata, holdout, args.seed, fit_predict, args)
        tmp = path.with_name(f".{path.name}.tmp")
        pred.write_h5ad(tmp)
        os.replace(tmp, path)
        tmp = timing_path.with_name(f".{timing_path.name}.tmp")
        tmp.write_text(json.dumps({**timing, "settings": info}, indent=1, default=repr))
        os.replace(tmp, timing_path)
        print(
            f"[{i}/{len(holdouts)}] {holdout}: fit {timing['fit_s']:.0f} s "
            f"(cpu {timing['fit_cpu_s']:.0f} s), predict {timing['predict_s']:.1f} s -> {path}",
            flush=True,
        )
