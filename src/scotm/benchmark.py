"""Leave-one-cell-type-out benchmark (EVALUATION.md): every fold, every method, one table."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from . import metrics as _metrics
from ._errors import ScotmInputError
from ._io import write_h5ad, write_text
from .pp import check_keys

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Keys:
    """Where conditions and cell types live in ``obs``, and the two condition labels."""

    condition_key: str = "condition"
    control: str = "control"
    perturbed: str = "stimulated"
    cell_type_key: str = "cell_type"

    def as_kwargs(self) -> dict[str, str]:
        return {
            "condition_key": self.condition_key,
            "control": self.control,
            "perturbed": self.perturbed,
            "cell_type_key": self.cell_type_key,
        }


@dataclass
class Fold:
    """One held-out cell type: what training may see, and what it is judged against."""

    holdout: str
    train: ad.AnnData
    ctrl: ad.AnnData
    real: ad.AnnData


def cell_types(adata: ad.AnnData, keys: Keys) -> list[str]:
    """Cell types in order of size (largest first), as EVALUATION.md lists them."""
    return list(adata.obs[keys.cell_type_key].astype(str).value_counts().index)


def foldable_cell_types(adata: ad.AnnData, keys: Keys) -> list[str]:
    """Cell types (largest first) that have both control and perturbed cells, i.e. can be folds."""
    cond = adata.obs[keys.condition_key].astype(str).to_numpy()
    types = adata.obs[keys.cell_type_key].astype(str).to_numpy()
    both = set(types[cond == keys.control]) & set(types[cond == keys.perturbed])
    ordered = cell_types(adata, keys)
    foldable = [t for t in ordered if t in both]
    skipped = [t for t in ordered if t not in both]
    if skipped:
        logger.warning(
            "cell type(s) %s lack '%s' or '%s' cells: not used as folds",
            ", ".join(skipped),
            keys.control,
            keys.perturbed,
        )
    if not foldable:
        raise ScotmInputError(
            f"no cell type in obs['{keys.cell_type_key}'] has both '{keys.control}' and "
            f"'{keys.perturbed}' cells in obs['{keys.condition_key}']; check --control, "
            "--perturbed and --cell-type-key"
        )
    return foldable


def holdout_types(adata: ad.AnnData, holdout: str, keys: Keys) -> np.ndarray:
    """Every cell's type as strings, after checking that ``holdout`` is one of them."""
    types = adata.obs[keys.cell_type_key].astype(str).to_numpy()
    if holdout not in set(types):
        present = ", ".join(sorted(set(types)))
        raise ScotmInputError(
            f"cell type '{holdout}' not found in obs['{keys.cell_type_key}']; values are: "
            f"{present}; set it with --holdout"
        )
    return types


def holdout_split(adata: ad.AnnData, holdout: str, keys: Keys = Keys()) -> Fold:
    """Split for held-out type ``holdout``: training is every cell but its perturbed cells.

    Its control cells stay in training, since a real user has them.
    """
    check_keys(adata, **keys.as_kwargs())
    types = holdout_types(adata, holdout, keys)
    cond = adata.obs[keys.condition_key].astype(str).to_numpy()
    in_h = types == holdout
    is_ctrl, is_pert = cond == keys.control, cond == keys.perturbed
    for mask, label, flag in (
        (is_ctrl, keys.control, "--control"),
        (is_pert, keys.perturbed, "--perturbed"),
    ):
        if not (in_h & mask).any():
            raise ScotmInputError(
                f"cell type '{holdout}' has no '{label}' cells in obs['{keys.condition_key}']; "
                f"it cannot be a held-out fold; pick another --holdout or check {flag}"
            )
    train_mask = (is_ctrl | is_pert) & ~(in_h & is_pert)
    return Fold(
        holdout=holdout,
        train=adata[train_mask].copy(),
        ctrl=adata[in_h & is_ctrl].copy(),
        real=adata[in_h & is_pert].copy(),
    )


MethodFactory = Callable[[Keys], object]
#: ``on_prediction(fold, method, pred, degs)``: called once per fold and method, after scoring.
PredictionCallback = Callable[[Fold, str, ad.AnnData, list[str]], None]


def method_factories() -> dict[str, MethodFactory]:
    """Every method the benchmark knows, by name: a factory from keys to an unfitted model."""
    from .baselines import BASELINES

    factories: dict[str, MethodFactory] = {
        name: (lambda keys, cls=cls: cls(**keys.as_kwargs())) for name, cls in BASELINES.items()
    }
    from .model import ABLATIONS, PRIOR_METHODS, benchmark_factory

    factories["scotm"] = benchmark_factory
    for name, settings in {**ABLATIONS, **PRIOR_METHODS}.items():
        factories[name] = lambda keys, s=settings: benchmark_factory(keys, **s)
    return factories


def add_priors(adata: ad.AnnData, methods: Sequence[str]) -> ad.AnnData:
    """A copy of ``adata`` with the cell embeddings that ``methods`` need (e.g. GenePT).

    Returns ``adata`` itself when no method needs one or it is already there.
    """
    from .model import GENEPT_KEY, PRIOR_METHODS

    needing = [m for m in methods if m in PRIOR_METHODS]
    keys = {PRIOR_METHODS[m]["cell_embedding_key"] for m in needing}
    if GENEPT_KEY in keys and GENEPT_KEY not in adata.obsm:
        from . import priors

        logger.info("Computing GenePT cell embeddings for %s ...", ", ".join(needing))
        adata = priors.genept(adata, copy=True, key_added=GENEPT_KEY)
    return adata


def run_benchmark(
    adata: ad.AnnData,
    methods: Sequence[str] = ("identity", "mean_shift", "pca_ot"),
    holdouts: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    keys: Keys = Keys(),
    on_prediction: PredictionCallback | None = None,
) -> pd.DataFrame:
    """Run every method on every held-out fold and score it with :func:`scotm.metrics.evaluate`.

    Parameters
    ----------
    adata
        Preprocessed (log-normalised, HVG) data, e.g. from :func:`scotm.pp.prepare`.
    methods
        Method names; see :func:`method_factories`.
    holdouts
        Cell types to hold out; all types with both conditions if ``None``.
    out_dir
        If given, writes ``metrics.csv`` and ``predictions/<method>/<cell type>.h5ad``.
    on_prediction
        If given, called as ``on_prediction(fold, method, pred, degs)`` after each prediction
        is scored (and written): the fold's cells, the method, its predicted cells and the
        fold's DEGs. The benchmark keeps no prediction after the call: keep what you need,
        as :class:`scotm.report.FigureCollector` does (it renders the report's figures).

    Returns
    -------
    One row per (fold, method) with every metric, ``fit_s`` and ``predict_s``.
    """
    factories = method_factories()
    unknown = [m for m in methods if m not in factories]
    if unknown:
        raise ScotmInputError(
            f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(factories)} with --methods"
        )
    check_keys(adata, **keys.as_kwargs())
    adata = add_priors(adata, methods)
    holdouts = list(holdouts) if holdouts else foldable_cell_types(adata, keys)
    out = Path(out_dir) if out_dir is not None else None
    rows = []
    for h_i, holdout in enumerate(holdouts, 1):
        fold = holdout_split(adata, holdout, keys)
        degs = _metrics.top_degs(fold.ctrl, fold.real)
        for method in methods:
            logger.info("[fold %d/%d] %s: %s", h_i, len(holdouts), holdout, method)
            model = factories[method](keys)
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
                write_h5ad(pred, out / "predictions" / method / f"{_safe(holdout)}.h5ad")
            if on_prediction is not None:
                on_prediction(fold, method, pred, degs)
            del model, pred  # freed before the next method is fit
        if out is not None:
            write_text(pd.DataFrame(rows).to_csv(index=False), out / "metrics.csv")
    return pd.DataFrame(rows)


def _safe(name: str) -> str:
    """A file name for a cell type: keep letters, digits and ' +-_.', replace the rest."""
    return "".join(ch if ch.isalnum() or ch in " +-_." else "_" for ch in name)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over folds per method, metrics as columns."""
    cols = [c for c in (*_metrics.METRICS, "fit_s", "predict_s") if c in table]
    return table.groupby("method", sort=False)[cols].mean()


def format_table(table: pd.DataFrame) -> str:
    """Per-fold rows and the mean over folds, as a fixed-width text table."""
    cols = [c for c in _metrics.METRICS if c in table]
    per_fold = table.set_index(["holdout", "method"])[cols]
    mean = summary(table)[cols]
    mean.index = pd.MultiIndex.from_product([["MEAN"], mean.index], names=["holdout", "method"])
    full = pd.concat([per_fold, mean])
    return full.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")


def summary_text(table: pd.DataFrame, header: Sequence[str] = ()) -> str:
    """``header`` lines, the mean over folds (with timings), then :func:`format_table`."""
    return "\n".join(
        [
            *header,
            "",
            "Mean over folds:",
            summary(table).to_string(float_format=lambda v: f"{v:.3f}"),
            "",
            format_table(table),
        ]
    )
