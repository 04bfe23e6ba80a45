"""Baselines of EVALUATION.md behind the interface the model has: ``fit`` then ``predict``.

- :class:`Identity`: the prediction is the control cells themselves.
- :class:`MeanShift`: add the mean training response, in log space, clipped at 0.
- :class:`PcaOT`: a no-training linear OT transfer, the bar a neural model must clear.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
from sklearn.decomposition import PCA

from . import transport, validate
from ._arrays import dense
from ._errors import ScotmInputError
from .design import Keys, check_genes

logger = logging.getLogger(__name__)
__all__ = ["BASELINES", "Baseline", "Identity", "MeanShift", "PcaOT", "dense", "prediction_adata"]


def prediction_adata(ctrl: ad.AnnData, X: np.ndarray, method: str) -> ad.AnnData:
    """Wrap predicted log-normalised expression with the control cells' obs and genes.

    Examples
    --------
    >>> ctrl = ad.AnnData(np.zeros((2, 3)))
    >>> prediction_adata(ctrl, np.ones((2, 3)), "demo").uns["scotm_prediction"]
    {'method': 'demo'}
    """
    out = ad.AnnData(X=np.asarray(X, dtype=np.float32), obs=ctrl.obs.copy(), var=ctrl.var.copy())
    out.uns["scotm_prediction"] = {"method": method}
    return out


@dataclass
class Baseline:
    """Common set-up: the fields of :class:`scotm.design.Keys`, validated on ``fit``."""

    condition_key: str = "condition"
    control: str = "control"
    perturbed: str = "stimulated"
    cell_type_key: str = "cell_type"
    name: str = field(default="baseline", init=False)

    @property
    def keys(self) -> Keys:
        """The experiment design these fields describe."""
        return Keys(self.condition_key, self.control, self.perturbed, self.cell_type_key)

    def _split(self, train: ad.AnnData) -> tuple[np.ndarray, np.ndarray]:
        keys = self.keys
        keys.check(train)
        validate.require_log(train, "the training data")
        self.var_names_ = train.var_names.copy()  # the genes predict() will require
        cond = keys.conditions(train)
        return cond == self.control, cond == self.perturbed

    def _check_predict(self, ctrl: ad.AnnData) -> None:
        validate.require_log(ctrl, "the control cells")
        genes = getattr(self, "var_names_", None)
        if genes is not None:
            check_genes(ctrl, genes, "the control cells")

    def fit(self, train: ad.AnnData) -> Baseline:
        self._split(train)
        return self

    def predict(self, ctrl: ad.AnnData) -> ad.AnnData:
        raise NotImplementedError


@dataclass
class Identity(Baseline):
    """pred = ctrl. Any model must beat it everywhere."""

    name: str = field(default="identity", init=False)

    def predict(self, ctrl: ad.AnnData) -> ad.AnnData:
        self._check_predict(ctrl)
        return prediction_adata(ctrl, dense(ctrl.X), self.name)


@dataclass
class MeanShift(Baseline):
    """pred = ctrl + (mean training perturbed - mean training control), clipped at 0."""

    name: str = field(default="mean_shift", init=False)

    def fit(self, train: ad.AnnData) -> MeanShift:
        is_ctrl, is_pert = self._split(train)
        # The response is learned from cell types seen in both conditions. Control cells of a
        # type with no perturbed cells (the held-out type) carry no response, only a change of
        # cell-type mix: counting them skews the shift (CD14+ Monocytes r2_mean_deg 0.630
        # instead of 0.658).
        types = self.keys.cell_types(train)
        paired = np.isin(types, np.unique(types[is_pert]))
        X = train.X
        self.delta_ = np.asarray(X[is_pert].mean(0) - X[is_ctrl & paired].mean(0)).ravel()
        return self

    def predict(self, ctrl: ad.AnnData) -> ad.AnnData:
        self._check_predict(ctrl)
        return prediction_adata(ctrl, np.clip(dense(ctrl.X) + self.delta_, 0, None), self.name)


@dataclass
class PcaOT(Baseline):
    """Linear OT transfer with no training (EVALUATION.md's ``pca_ot``).

    1. PCA (100 components) on the training cells.
    2. Per training cell type, exact EMD between its control and perturbed codes.
    3. Each training control cell gets its barycentric shift.
    4. Each new control cell averages the shifts of its ``k`` most cosine-similar training
       control cells, weighted by similarity, and the shift is mapped back through the loadings.
    """

    n_components: int = 100
    k: int = 30
    num_iter_max: int = 1_000_000
    name: str = field(default="pca_ot", init=False)

    def fit(self, train: ad.AnnData) -> PcaOT:
        is_ctrl, is_pert = self._split(train)
        X = dense(train.X)
        n_comp = min(self.n_components, X.shape[0] - 1, X.shape[1])
        self.pca_ = PCA(n_components=n_comp, svd_solver="covariance_eigh").fit(X)
        Z = self.pca_.transform(X)
        types = self.keys.cell_types(train)
        # control cells grouped by type (stable), so the reference lists each type's cells
        # together, as the per-type loop this replaced did
        order = np.argsort(types[is_ctrl], kind="stable")
        z_ctrl, t_ctrl = Z[is_ctrl][order], types[is_ctrl][order]
        logger.info("pca_ot: exact EMD per cell type (%d control cells)", len(z_ctrl))
        mask, self.shifts_ = transport.ot_shifts(
            z_ctrl, Z[is_pert], t_ctrl, types[is_pert], method="emd", num_iter_max=self.num_iter_max
        )
        if not mask.any():
            raise ScotmInputError(
                "no training cell type has both control and perturbed cells; "
                "pca_ot needs at least one to learn a response"
            )
        self.codes_ = z_ctrl[mask]
        return self

    def predict(self, ctrl: ad.AnnData) -> ad.AnnData:
        self._check_predict(ctrl)
        X = dense(ctrl.X)
        z = self.pca_.transform(X)
        shift, _, _ = transport.transfer_shifts(z, self.codes_, self.shifts_, self.k)
        pred = X + shift @ self.pca_.components_
        return prediction_adata(ctrl, np.clip(pred, 0, None), self.name)


BASELINES: dict[str, type[Baseline]] = {
    "identity": Identity,
    "mean_shift": MeanShift,
    "pca_ot": PcaOT,
}


def _register() -> None:
    from .benchmark.methods import register_method

    for name, cls in BASELINES.items():
        register_method(name, lambda keys, cls=cls: cls(**keys.as_kwargs()))


_register()
