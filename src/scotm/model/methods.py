"""SCOTM's benchmark methods: the model, its ablations and its prior variants, registered in
:mod:`scotm.benchmark.methods` when :mod:`scotm.model` is imported."""

from __future__ import annotations

import logging
import sys
from typing import Any

import anndata as ad

from .. import baselines  # noqa: F401  (registers the baselines first: listed first)
from ..benchmark.methods import GENEPT_KEY, register_method
from ..design import Keys
from .core import SCOTM

#: The model with one part removed or swapped, each a benchmark method of its own.
ABLATIONS: dict[str, dict[str, Any]] = {
    "scotm_kl": {"prior": "kl"},  # KL instead of MMD
    "scotm_meanshift": {"shift": "mean"},  # no OT: one mean latent shift per type (scGen-like)
    "scotm_single": {"per_cell": False},  # one shift vector for the whole held-out type
    "scotm_sinkhorn": {"ot_method": "sinkhorn"},  # entropic instead of exact OT
    # one plan across all cell types (exact, as before ot_method "auto": ~8k x 8k on Kang)
    "scotm_across": {"couple_within_cell_type": False, "ot_method": "emd"},
    "scotm_fulldecode": {"decode": "full"},  # decode the shifted code, as published
    # a condition-aware decoder (the trVAE idea: condition on the decoder, MMD between
    # control and perturbed on its first layer), decoded x + D(z + s, pert) - D(z, ctrl)
    "scotm_cvae": {"network": "cvae"},
    "scotm_cdecoder": {"network": "cvae", "cond_mmd": 0.0},  # the same, without that MMD
    "scotm_noprior": {"cell_prior": "none"},  # without the default GenePT cell prior
    "scotm_relu": {"output_activation": "relu", "zero_below": 0.0},  # the earlier output
    # neighbours weighted by similarity alone, as published (the default divides each by its
    # cell type's number of reference cells)
    "scotm_similarity": {"neighbour_weights": "similarity"},
    "scotm_beta1": {"beta": 1.0},  # the prior term at its earlier weight (the default 0.5)
}

#: The scOTM method as this package implements it (MMD autoencoder, exact OT within cell
#: types, per-cell shift transfer, residual decoding), pinned by name: it stays runnable
#: whatever the default ``SCOTM()`` becomes.
FAITHFUL: dict[str, Any] = {
    "network": "vae",
    "shift_scale": 1.0,
    "cell_prior": "none",
    "output_activation": "relu",
    "zero_below": 0.0,
    "neighbour_weights": "similarity",
    "beta": 1.0,
}

#: The model with a prior embedding added, each a benchmark method of its own. GenePT cell
#: embeddings are a fixed function of each cell's own expression (no fitting), so the
#: benchmark computes them once for all cells before the folds; nothing leaks across cells.
PRIOR_METHODS: dict[str, dict[str, Any]] = {
    "scotm_genept": {
        "cell_embedding_key": GENEPT_KEY,
        "cell_embedding_source": "GenePT: all-MiniLM-L6-v2 over MSigDB gene-set descriptions",
    },
}


class BenchmarkAdapter:
    """The benchmark's ``fit`` / ``predict`` interface over :class:`SCOTM`.

    With ``keys.perturbed`` naming several perturbations (or ``None``: every non-control
    label) one model learns them all, and ``predict(ctrl, perturbation=p)`` picks one.

    Examples
    --------
    >>> pred = BenchmarkAdapter(Keys(), max_epochs=3).fit(fold.train).predict(fold.ctrl)  # doctest: +SKIP
    >>> many = BenchmarkAdapter(Keys(perturbed=None)).fit(fold.train)  # doctest: +SKIP
    >>> pred = many.predict(fold.ctrl, perturbation="MAPK1")  # doctest: +SKIP
    """

    def __init__(self, keys: Keys, **settings: Any) -> None:
        self.keys = keys
        self.settings = settings

    def fit(self, train: ad.AnnData) -> BenchmarkAdapter:
        self.model = SCOTM(train, **self.keys.as_kwargs(), **self.settings)
        # a progress bar in a terminal, unless --quiet; never in logs or CI output
        progress = sys.stderr.isatty() and logging.getLogger("scotm").isEnabledFor(logging.INFO)
        self.model.train(progress=progress)
        return self

    def predict(self, ctrl: ad.AnnData, perturbation: str | None = None) -> ad.AnnData:
        """Predicted cells for ``ctrl`` under ``perturbation`` (optional with one)."""
        return self.model.predict(ctrl, perturbation=perturbation)


# one model learns every perturbation of a multi-perturbation run ...
register_method("scotm", BenchmarkAdapter, multi=True)
register_method(
    "scotm_faithful", lambda keys: BenchmarkAdapter(keys, **FAITHFUL), FAITHFUL, multi=True
)
for _name, _changes in {**ABLATIONS, **PRIOR_METHODS}.items():
    register_method(
        _name, lambda keys, s=_changes: BenchmarkAdapter(keys, **s), _changes, multi=True
    )
# ... or one model per perturbation (the same as "scotm" with a single perturbation)
register_method("scotm_separate", BenchmarkAdapter, multi=False)
