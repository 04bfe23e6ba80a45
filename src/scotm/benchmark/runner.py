"""The fold runner (EVALUATION.md): every fold, every method, one table."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anndata as ad
import pandas as pd

from .. import metrics as _metrics
from .. import validate
from .._io import write_h5ad, write_text
from ..design import Fold, Keys, foldable_cell_types, split
from ..validate import validated
from .methods import GENEPT_KEY, check_methods, method_changes, method_factories
from .multi import EXTRA_METRICS, _with_settings, is_many, plan_folds, run_many_folds
from .output import file_names, run_folder, safe_name  # noqa: F401  (safe_name: public here)

logger = logging.getLogger(__name__)


#: ``on_prediction(fold, method, pred, degs)``: called once per fold and method, after scoring.
PredictionCallback = Callable[[Fold, str, ad.AnnData, list[str]], None]


def add_priors(adata: ad.AnnData, methods: Sequence[str]) -> ad.AnnData:
    """A copy of ``adata`` with the cell embeddings that ``methods`` need (e.g. GenePT).

    Returns ``adata`` itself when no method needs one or it is already there.

    Examples
    --------
    >>> import scotm
    >>> toy = scotm.datasets.toy(n_cells=12, n_genes=4)
    >>> add_priors(toy, ["identity"]) is toy
    True
    """
    needing = [m for m in methods if (method_changes(m) or {}).get("cell_embedding_key")]
    keys = {method_changes(m)["cell_embedding_key"] for m in needing}
    if GENEPT_KEY in keys and GENEPT_KEY not in adata.obsm:
        from .. import priors

        logger.info("Computing GenePT cell embeddings for %s ...", ", ".join(needing))
        adata = priors.genept(adata, copy=True, key_added=GENEPT_KEY)
    return adata


def run_benchmark(
    adata: ad.AnnData,
    methods: Sequence[str] = ("identity", "mean_shift", "pca_ot"),
    holdouts: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    keys: Keys = Keys(),  # noqa: B008  (frozen: safe as a default)
    on_prediction: PredictionCallback | None = None,
    split_kind: str = "cell_type",
    *,
    overwrite: bool = False,
    finish: Callable[[Path, pd.DataFrame], None] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run every method on every held-out fold and score it with :func:`scotm.metrics.evaluate`.

    Parameters
    ----------
    adata
        Preprocessed (log-normalised, HVG) data, e.g. from :func:`scotm.pp.prepare`.
    methods
        Method names; see :func:`method_factories`.
    holdouts
        What to hold out, one fold each: cell types (all types with both conditions if
        ``None``), or perturbations with ``split_kind="perturbation"``.
    out_dir
        If given, writes ``metrics.csv``, ``run.json`` and
        ``predictions/<method>/<holdout>.h5ad`` (names from
        :func:`scotm.benchmark.output.file_names`: distinct even where two holdouts' safe
        names collide). The folder is built aside and replaces ``out_dir`` only when the run
        is complete (:func:`scotm.benchmark.output.run_folder`): a non-empty ``out_dir`` is
        refused unless ``overwrite``.
    on_prediction
        If given, called as ``on_prediction(fold, method, pred, degs)`` after each prediction
        is scored (and written): the fold's cells, the method, its predicted cells and the
        fold's DEGs. The benchmark keeps no prediction after the call: keep what you need,
        as :class:`scotm.report.FigureCollector` does (it renders the report's figures).

    split_kind
        How a fold is made (:data:`scotm.design.SPLITS`).
    finish
        If given with ``out_dir``, called as ``finish(folder, table)`` once every fold is
        scored, before the folder is put in place (e.g. to write a report into it).
    settings
        Model settings (e.g. ``{"seed": 1}``) for every method that has them (the scotm
        methods); a method's own defining changes win.

    With ``split_kind="cell_type"`` and several perturbations (``keys.perturbed`` a tuple,
    or ``None`` for every non-control label) each fold predicts every perturbation for the
    held-out type (:mod:`scotm.benchmark.multi`): rows per (fold, perturbation, method), a
    ``perturbation`` column and :data:`scotm.benchmark.multi.EXTRA_METRICS`; predictions
    under ``predictions/<method>/<holdout>/<perturbation>.h5ad``. A pair with too few cells
    is skipped and recorded (``table.attrs["skipped"]``, ``run.json``) with ``None``, refused
    with a tuple. ``None`` on data with one perturbation runs as that one label.

    Returns
    -------
    One row per (fold, method) with every metric, ``fit_s`` and ``predict_s``.

    Examples
    --------
    >>> import scotm
    >>> toy = scotm.pp.prepare(scotm.datasets.toy(n_cells=120, n_genes=20), n_top_genes=None)
    >>> table = run_benchmark(toy, ["identity"], ["type0"])
    >>> table.loc[0, "method"]
    'identity'
    """
    methods = check_methods(methods)
    perts = keys.check(adata)
    if keys.perturbed is None and len(perts) == 1:  # 'all' of one label: the one-label run
        keys = replace(keys, perturbed=perts[0])
    validate.require_log(adata)  # once here; the folds are slices of these data
    adata = add_priors(adata, methods)
    holdouts = list(holdouts) if holdouts else foldable_cell_types(adata, keys)
    many = split_kind == "cell_type" and is_many(keys)
    info: dict[str, Any] = {"methods": list(methods), "holdouts": [str(h) for h in holdouts]}
    if many:  # before any training: which (fold, perturbation) pairs can be scored
        plan, skipped = plan_folds(adata, keys, holdouts)
        info.update(perturbations=plan, skipped=skipped)
    elif split_kind == "cell_type":  # before any training: each held-out type can be scored
        labels = [keys.control, *(perts if isinstance(keys.perturbed, str) else [])]
        validate.check_group_sizes(adata, keys.condition_key, labels, keys.cell_type_key, holdouts)

    def run(out: Path | None) -> pd.DataFrame:
        if many:
            table = run_many_folds(adata, methods, plan, keys, on_prediction, out, settings)
            table.attrs["skipped"] = skipped
            return table
        return _run_folds(adata, methods, holdouts, keys, on_prediction, split_kind, out, settings)

    with validated():
        if out_dir is None:
            return run(None)
        with run_folder(out_dir, overwrite, **info) as tmp:
            table = run(tmp)
            write_text(table.to_csv(index=False), tmp / "metrics.csv")
            if finish is not None:
                finish(tmp, table)
        return table


def _run_folds(
    adata, methods, holdouts, keys, on_prediction, split_kind, out, settings=None
) -> pd.DataFrame:
    factories = method_factories()
    names = file_names([str(h) for h in holdouts])
    rows = []
    for h_i, holdout in enumerate(holdouts, 1):
        fold = split(adata, holdout, keys, split_kind, check=False)  # checked above
        degs = _metrics.top_degs(fold.ctrl, fold.real)
        for method in methods:
            logger.info("[fold %d/%d] %s: %s", h_i, len(holdouts), holdout, method)
            model = _with_settings(factories[method](keys), settings)
            t0 = time.perf_counter()
            model.fit(fold.train)
            t1 = time.perf_counter()
            pred = model.predict(fold.ctrl)
            t2 = time.perf_counter()
            scores = _metrics.evaluate(fold.ctrl, fold.real, pred, degs)
            rows.append(
                {
                    "holdout": holdout,
                    "method": method,
                    **scores,
                    "fit_s": t1 - t0,
                    "predict_s": t2 - t1,
                }
            )
            logger.info("  %s", ", ".join(f"{k}={v:.3f}" for k, v in scores.items()))
            if out is not None:
                write_h5ad(pred, out / "predictions" / method / f"{names[str(holdout)]}.h5ad")
            if on_prediction is not None:
                on_prediction(fold, method, pred, degs)
            del model, pred  # freed before the next method is fit
    return pd.DataFrame(rows)


def _metric_cols(table: pd.DataFrame, timings: bool = True) -> list[str]:
    names = (*_metrics.METRICS, *EXTRA_METRICS, *(("fit_s", "predict_s") if timings else ()))
    return [c for c in names if c in table]


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over folds per method, metrics as columns (with a ``perturbation`` column: over
    every (fold, perturbation) row).

    Examples
    --------
    >>> import pandas as pd
    >>> float(summary(pd.DataFrame({"method": ["a", "a"], "edist": [1.0, 3.0]})).loc["a", "edist"])
    2.0
    """
    return table.groupby("method", sort=False)[_metric_cols(table)].mean()


def summary_by_perturbation(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over folds per (perturbation, method) of a table with a ``perturbation`` column.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"perturbation": ["p", "p"], "method": ["a", "a"], "edist": [1.0, 3.0]})
    >>> float(summary_by_perturbation(t).loc[("p", "a"), "edist"])
    2.0
    """
    return table.groupby(["perturbation", "method"], sort=False)[_metric_cols(table)].mean()


def format_table(table: pd.DataFrame) -> str:
    """Per-fold rows and the mean over folds, as a fixed-width text table (with a
    ``perturbation`` column: per (fold, perturbation) rows, the mean over folds per
    perturbation, and the mean over all rows as perturbation ``all``).

    Examples
    --------
    >>> import pandas as pd
    >>> print(format_table(pd.DataFrame({"holdout": ["B"], "method": ["a"], "edist": [1.0]})))  # doctest: +SKIP
    """
    cols = _metric_cols(table, timings=False)
    if "perturbation" in table:
        names = ["holdout", "perturbation", "method"]
        per_pert = summary_by_perturbation(table)[cols].reset_index().assign(holdout="MEAN")
        overall = summary(table)[cols].reset_index().assign(holdout="MEAN", perturbation="all")
        parts = [table[names + cols], per_pert[names + cols], overall[names + cols]]
        full = pd.concat(parts, ignore_index=True).set_index(names)
        return full.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")
    per_fold = table.set_index(["holdout", "method"])[cols]
    mean = summary(table)[cols]
    mean.index = pd.MultiIndex.from_product([["MEAN"], mean.index], names=["holdout", "method"])
    full = pd.concat([per_fold, mean])
    return full.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")


def summary_text(table: pd.DataFrame, header: Sequence[str] = ()) -> str:
    """``header`` lines, the mean over folds (with timings), then :func:`format_table`.

    Examples
    --------
    >>> print(summary_text(table, ["Kang, 8 folds"]))  # doctest: +SKIP
    """
    by_pert = []
    if "perturbation" in table:
        text = summary_by_perturbation(table).to_string(float_format=lambda v: f"{v:.3f}")
        by_pert = ["", "Mean over folds per perturbation:", text]
    return "\n".join(
        [
            *header,
            "",
            "Mean over folds:" if not by_pert else "Mean over (fold, perturbation) rows:",
            summary(table).to_string(float_format=lambda v: f"{v:.3f}"),
            *by_pert,
            "",
            format_table(table),
        ]
    )
