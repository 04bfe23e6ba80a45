"""Leave-one-out benchmark (EVALUATION.md): every fold, every method, one table.

- :mod:`.runner`: :func:`run_benchmark` and its tables;
- :mod:`.methods`: the method registry that models and baselines register themselves in;
- the keys and the splits come from :mod:`scotm.design` (re-exported here).

Examples
--------
>>> from scotm.benchmark import Keys, holdout_split, run_benchmark  # doctest: +SKIP
>>> table = run_benchmark(adata, methods=["identity", "scotm"])  # doctest: +SKIP
"""

from ..design import (
    Fold,
    Keys,
    cell_types,
    foldable_cell_types,
    holdout_split,
    holdout_types,
    perturbation_split,
    split,
)
from .methods import (
    GENEPT_KEY,
    check_methods,
    is_multi,
    method_changes,
    method_factories,
    register_method,
)
from .multi import EXTRA_METRICS, plan_folds
from .runner import (
    PredictionCallback,
    add_priors,
    format_table,
    run_benchmark,
    safe_name,
    summary,
    summary_by_perturbation,
    summary_text,
)

__all__ = [
    "EXTRA_METRICS",
    "GENEPT_KEY",
    "Fold",
    "Keys",
    "PredictionCallback",
    "add_priors",
    "cell_types",
    "check_methods",
    "foldable_cell_types",
    "format_table",
    "holdout_split",
    "holdout_types",
    "is_multi",
    "method_changes",
    "method_factories",
    "perturbation_split",
    "plan_folds",
    "register_method",
    "run_benchmark",
    "safe_name",
    "split",
    "summary",
    "summary_by_perturbation",
    "summary_text",
]
