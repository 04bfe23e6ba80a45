"""Folds over cell types with many perturbations: the unseen-cell-type task of scOTM.

Each fold holds one cell type's perturbed cells out (every perturbation of the run) and
predicts each perturbation for that type from its control cells. A method registered with
``multi=True`` (:func:`scotm.benchmark.methods.is_multi`, e.g. ``scotm``) is fit once per fold
on every perturbation and asked ``predict(ctrl, perturbation=p)``; any other method (the
baselines, ``scotm_separate``) is fit once per perturbation, on the training control cells and
that perturbation's training cells only. One row per (fold, perturbation, method).

Beside the pinned metrics (:func:`scotm.metrics.evaluate`) each row has, when the fold scores
at least two perturbations (:data:`EXTRA_METRICS`):

- ``systema_r``: :func:`scotm.effects.systema_r`, the predicted vs real change relative to the
  mean of the fold's perturbations' real centroids (Systema, 2025);
- ``centroid_rank``: :func:`scotm.effects.centroid_ranks` among the fold's perturbations
  (0 = the prediction is nearest its own perturbation's real centroid), and ``centroid_acc``
  (1.0 at rank 0, else 0.0: its mean is the centroid accuracy).

A (fold, perturbation) with too few cells (:data:`MIN_CELLS`) in the held-out type or in
training is skipped, logged and recorded (:func:`plan_folds`), or refused when the
perturbations were named explicitly (``strict``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .. import effects
from .. import metrics as _metrics
from .._errors import ScotmInputError
from .._io import write_h5ad
from ..design import Fold, Keys, holdout_split
from .methods import is_multi, method_factories
from .output import file_names

logger = logging.getLogger(__name__)

#: Columns beside the pinned metrics in a many-perturbation table (NaN with one perturbation).
EXTRA_METRICS = ("systema_r", "centroid_acc", "centroid_rank")
#: Fewest cells of a perturbation in the held-out type (the DEG test) and in training.
MIN_CELLS = 2


def is_many(keys: Keys) -> bool:
    """Whether ``keys`` name several perturbations (a tuple, or ``None`` for every label).

    Examples
    --------
    >>> is_many(Keys(perturbed=None)), is_many(Keys(perturbed="IFN"))
    (True, False)
    """
    return not isinstance(keys.perturbed, str)


def plan_folds(
    adata: ad.AnnData,
    keys: Keys,
    holdouts: Sequence[str],
    *,
    strict: bool | None = None,
    min_cells: int = MIN_CELLS,
) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    """Which perturbations each held-out cell type scores, and why the others are skipped.

    Parameters
    ----------
    adata, keys
        The data and its keys (``keys.perturbed`` several labels, or ``None``).
    holdouts
        The held-out cell types.
    strict
        Refuse any skip with a one-line error; by default when the perturbations are named
        (a tuple), not ``None`` (every label).
    min_cells
        Fewest cells of a perturbation in the held-out type and in the other types.

    Returns
    -------
    ``{holdout: [perturbation, ...]}`` and the skipped pairs as records
    (``holdout``, ``perturbation``, ``reason``).

    Examples
    --------
    >>> import scotm
    >>> toy = scotm.datasets.toy(n_cells=60, n_genes=4)
    >>> plan_folds(toy, Keys(perturbed=None), ["type0"])
    ({'type0': ['stimulated']}, [])
    """
    perts = keys.perturbations(adata)
    strict = keys.perturbed is not None if strict is None else strict
    cond, types = keys.conditions(adata), keys.cell_types(adata)
    plan: dict[str, list[str]] = {}
    skipped: list[dict[str, str]] = []
    for h in holdouts:
        in_h = types == str(h)
        n_ctrl = int(np.count_nonzero(in_h & (cond == keys.control)))
        if n_ctrl < min_cells:
            raise ScotmInputError(
                f"cell type '{h}' has {n_ctrl} '{keys.control}' cell(s) (the DEG test needs >= "
                f"{min_cells}); hold out other cell types with argument holdout"
            )
        plan[str(h)] = []
        for p in perts:
            n_real = int(np.count_nonzero(in_h & (cond == p)))
            n_train = int(np.count_nonzero(~in_h & (cond == p)))
            if n_real < min_cells:
                reason = f"{n_real} cell(s) in '{h}' (the DEG test needs >= {min_cells})"
            elif n_train < min_cells:
                reason = f"{n_train} training cell(s) outside '{h}' (needs >= {min_cells})"
            else:
                plan[str(h)].append(p)
                continue
            skipped.append({"holdout": str(h), "perturbation": p, "reason": reason})
    if skipped and strict:
        s = skipped[0]
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise ScotmInputError(
            f"perturbation '{s['perturbation']}' cannot be scored in fold '{s['holdout']}': "
            f"{s['reason']}{more}; drop it from argument perturbed, or give argument perturbed "
            "all to skip such pairs"
        )
    if not any(plan.values()):
        first = "; ".join(f"{s['holdout']} / {s['perturbation']}: {s['reason']}" for s in skipped)
        raise ScotmInputError(
            f"no (cell type, perturbation) pair has enough cells to score ({first[:300]}); "
            "check argument perturbed and argument holdout"
        )
    for s in skipped:
        logger.warning("skipped %s / %s: %s", s["holdout"], s["perturbation"], s["reason"])
    return plan, skipped


def _dense_mean(a: ad.AnnData) -> np.ndarray:
    X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
    return np.asarray(X, dtype=np.float64).mean(axis=0)


def centroid_scores(pred_means: pd.DataFrame, real_means: pd.DataFrame) -> pd.DataFrame:
    """:data:`EXTRA_METRICS` per perturbation (rows of both tables): NaN with fewer than 2.

    Examples
    --------
    >>> real = pd.DataFrame([[0.0, 1.0], [2.0, 0.0]], index=["a", "b"])
    >>> centroid_scores(real + 0.1, real)["centroid_acc"].tolist()
    [1.0, 1.0]
    """
    out = pd.DataFrame(np.nan, index=pred_means.index, columns=list(EXTRA_METRICS))
    if len(real_means) < 2:
        return out
    ref = effects.perturbed_centroid(real_means)
    ranks = effects.centroid_ranks(pred_means, real_means)
    for p in pred_means.index:
        out.loc[p, "systema_r"] = effects.systema_r(pred_means.loc[p], real_means.loc[p], ref)
        out.loc[p, "centroid_rank"] = float(ranks[p])
        out.loc[p, "centroid_acc"] = float(ranks[p] == 0)
    return out


def _with_settings(model: Any, settings: Mapping[str, Any] | None) -> Any:
    """``settings`` under the model's own (a method's defining changes win); baselines as is."""
    if settings and isinstance(getattr(model, "settings", None), dict):
        model.settings = {**settings, **model.settings}
    return model


def run_many_folds(
    adata: ad.AnnData,
    methods: Sequence[str],
    plan: Mapping[str, Sequence[str]],
    keys: Keys,
    on_prediction: Callable[[Fold, str, ad.AnnData, list[str]], None] | None,
    out: Path | None,
    settings: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Every method on every (fold, perturbation) of ``plan`` (from :func:`plan_folds`).

    Examples
    --------
    >>> table = run_many_folds(adata, ["mean_shift"], plan, Keys(perturbed=None), None, None)  # doctest: +SKIP
    """
    factories = method_factories()
    perts = keys.perturbations(adata)
    cond_all, types_all = keys.conditions(adata), keys.cell_types(adata)
    folds = [h for h, ps in plan.items() if ps]
    names = file_names(folds)
    rows = []
    for h_i, h in enumerate(folds, 1):
        outside = types_all != h
        trainable = [p for p in perts if np.count_nonzero(outside & (cond_all == p)) >= MIN_CELLS]
        fold_keys = replace(keys, perturbed=tuple(trainable))
        fold = holdout_split(adata, h, fold_keys, check=False)
        cond_real, cond_train = keys.conditions(fold.real), keys.conditions(fold.train)
        scored = list(plan[h])
        real = {p: fold.real[cond_real == p].copy() for p in scored}
        degs = {p: _metrics.top_degs(fold.ctrl, real[p]) for p in scored}
        real_means = pd.DataFrame({p: _dense_mean(real[p]) for p in scored}).T
        pnames = file_names(scored)
        for method in methods:
            logger.info(
                "[fold %d/%d] %s: %s (%d perturbations)", h_i, len(folds), h, method, len(scored)
            )
            multi = is_multi(method)
            model, fit_s = None, 0.0
            if multi:
                model = _with_settings(factories[method](fold_keys), settings)
                t0 = time.perf_counter()
                model.fit(fold.train)
                fit_s = time.perf_counter() - t0
            method_rows, pred_means = [], {}
            for p in scored:
                if not multi:
                    model = _with_settings(factories[method](replace(keys, perturbed=p)), settings)
                    t0 = time.perf_counter()
                    model.fit(fold.train[np.isin(cond_train, [keys.control, p])].copy())
                    fit_s = time.perf_counter() - t0
                t1 = time.perf_counter()
                pred = (
                    model.predict(fold.ctrl, perturbation=p) if multi else model.predict(fold.ctrl)
                )
                predict_s = time.perf_counter() - t1
                scores = _metrics.evaluate(fold.ctrl, real[p], pred, degs[p])
                pred_means[p] = _dense_mean(pred)
                method_rows.append(
                    {
                        "holdout": h,
                        "perturbation": p,
                        "method": method,
                        **scores,
                        "fit_s": fit_s,
                        "predict_s": predict_s,
                    }
                )
                if out is not None:
                    path = out / "predictions" / method / names[h] / f"{pnames[p]}.h5ad"
                    write_h5ad(pred, path)
                if on_prediction is not None:
                    part = Fold(f"{h} / {p}", fold.train, fold.ctrl, real[p])
                    on_prediction(part, method, pred, degs[p])
                del pred
            extra = centroid_scores(pd.DataFrame(pred_means).T, real_means)
            for row in method_rows:
                row.update(extra.loc[row["perturbation"]].to_dict())
                logger.info(
                    "  %s: %s",
                    row["perturbation"],
                    ", ".join(f"{k}={row[k]:.3f}" for k in ("r2_mean_deg", "delta_r_deg", "edist")),
                )
            rows += method_rows
            del model
    cols = ["holdout", "perturbation", "method", *_metrics.METRICS, *EXTRA_METRICS]
    table = pd.DataFrame(rows)
    return table[[*cols, *(c for c in table.columns if c not in cols)]]
