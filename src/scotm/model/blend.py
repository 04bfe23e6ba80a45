"""The small-data safeguard: blend the model's prediction with a linear transfer.

With few cells the network may do worse than a linear transfer that needs no training. The
``blend`` setting (:class:`~scotm.model.config.PredictConfig`) mixes the two predictions cell
by cell, ``w * model + (1 - w) * linear``, where ``linear`` is

- ``"pca_ot"``: EVALUATION.md's ``pca_ot`` (100-component PCA of the training cells, exact
  OT within each training cell type, the 30 most cosine-similar shifts), or
- ``"mean_shift"``: the control cell plus the mean training response.

The weight ``w`` (``blend_weight``; ``None`` = chosen) is chosen by **inner validation on the
training cell types only**: each training type observed perturbed is predicted from its own
control cells with shifts from the *other* training types (the model through its own
prediction path, the linear transfer likewise), both are scored against that type's real
perturbed cells (r2 of the means and r of the changes over its 100 most changed genes), and
the grid weight with the best mean score wins (ties go to the model). Held-out cells never
enter: the prediction's own control cells are used only as the input. The blend acts on the
predicted expression, so it works whatever network or decoder produced it; where the model
predicts 0 the blend stays 0 (a linear shift would lift every zero a little, which rank tests
read as a change of every gene). It applies to
shifts transferred from a perturbation seen in training (``shift_from == "transfer"``).
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass

import numpy as np

from .. import transport
from .._arrays import dense
from .._errors import ScotmInputError

logger = logging.getLogger("scotm.model")

#: The ``blend`` setting's options.
BLENDS = ("none", "pca_ot", "mean_shift")
#: The weights inner validation chooses from (1 = the model alone, 0 = the linear transfer).
GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
#: The weight when inner validation is impossible (fewer than two training types perturbed).
FALLBACK = 1.0
N_COMPONENTS, K_LINEAR, N_GENES = 100, 30, 100
BLEND_FILE = "blend.npz"


@dataclass
class Linear:
    """One perturbation's linear transfer, fitted on the training cells.

    ``mean``/``components`` are the PCA's (``pca_ot``); ``codes``, ``shifts`` and
    ``cell_types`` its reference of training control cells; ``sums``/``counts`` hold per
    paired type the summed expression of its control (row 0) and perturbed (row 1) cells
    (``mean_shift``), so a leave-one-type-out mean response is exact.
    """

    mean: np.ndarray
    components: np.ndarray
    codes: np.ndarray
    shifts: np.ndarray
    cell_types: np.ndarray
    types: np.ndarray
    sums: np.ndarray
    counts: np.ndarray

    def predict(self, X: np.ndarray, kind: str, skip: str | None = None) -> np.ndarray:
        """The linear prediction of control cells ``X`` (shifts of type ``skip`` left out)."""
        if kind == "mean_shift":
            keep = self.types != skip
            ctrl = self.sums[keep, 0].sum(0) / self.counts[keep, 0].sum()
            delta = self.sums[keep, 1].sum(0) / self.counts[keep, 1].sum() - ctrl
            return np.clip(X + delta, 0.0, None)
        keep = self.cell_types != skip
        z = (X - self.mean) @ self.components.T
        shift = transport.transfer_shifts(z, self.codes[keep], self.shifts[keep], K_LINEAR)[0]
        return np.clip(X + shift @ self.components, 0.0, None)


def _state(model) -> dict:
    if getattr(model, "_blend", None) is None:
        model._blend = {"linear": {}, "weights": {}}
    return model._blend


def _training(model, name: str):
    """Training X (dense), types, control mask and ``name``'s mask, for the paired types."""
    if model.adata is None:
        raise ScotmInputError(
            "this model keeps no training cells and no saved blend for these settings; set "
            "blend='none', or retrain and save the model with the blend setting it will use"
        )
    keys = model.design
    cond, types = keys.conditions(model.adata), keys.cell_types(model.adata)
    return cond == keys.control, cond == name, types


def fit_linear(model, name: str, kind: str = "pca_ot") -> Linear:
    """Fit perturbation ``name``'s linear transfer of ``kind`` on the model's training cells.

    Examples
    --------
    >>> lin = fit_linear(model, "stimulated")  # doctest: +SKIP
    """
    from sklearn.decomposition import PCA

    is_c, is_p, types = _training(model, name)
    X = dense(model.adata.X).astype(np.float64)
    paired = np.array(sorted(set(types[is_c]) & set(types[is_p])))
    sums = np.stack([[X[m & (types == t)].sum(0) for m in (is_c, is_p)] for t in paired])
    counts = np.array([[(m & (types == t)).sum() for m in (is_c, is_p)] for t in paired])
    if kind == "mean_shift":  # no PCA, no OT
        empty = np.zeros((0, X.shape[1]))
        none = np.zeros(0, dtype=str)
        return Linear(X.mean(0), empty, empty, empty, none, paired.astype(str), sums, counts)
    n_comp = min(N_COMPONENTS, X.shape[0] - 1, X.shape[1])
    pca = PCA(n_components=n_comp, svd_solver="covariance_eigh").fit(X)
    Z = pca.transform(X)
    s = model.settings
    mask, shifts = transport.ot_shifts(
        Z[is_c], Z[is_p], types[is_c], types[is_p], method=s.ot_method, max_exact=s.max_exact
    )
    return Linear(
        pca.mean_, pca.components_, Z[is_c][mask], shifts, types[is_c][mask].astype(str),
        paired.astype(str), sums, counts,
    )  # fmt: skip


def _linear(model, name: str) -> Linear:
    kind = model.settings.blend
    state = _state(model)
    if (name, kind) not in state["linear"]:
        state["linear"][name, kind] = fit_linear(model, name, kind)
    return state["linear"][name, kind]


def _key(model, name: str) -> str:
    settings = {k: v for k, v in model.settings.as_dict().items() if k != "blend_weight"}
    return json.dumps([name, settings], sort_keys=True)


def _score(m: np.ndarray, real: np.ndarray, ctrl: np.ndarray) -> float:
    """Mean of r2 of the means and r of the changes, over the type's most changed genes."""
    genes = np.argsort(-np.abs(real - ctrl), kind="stable")[:N_GENES]
    a, b, c = m[genes], real[genes], ctrl[genes]
    if np.std(a) == 0 or np.std(a - c) == 0:
        return 0.0
    return 0.5 * (np.corrcoef(a, b)[0, 1] ** 2 + np.corrcoef(a - c, b - c)[0, 1])


def inner_scores(model, name: str) -> tuple[np.ndarray, list[str]]:
    """Inner validation: the score of every :data:`GRID` weight on each training type.

    Returns an array (types x weights) and the types. Each training type perturbed by
    ``name`` is predicted from its control cells with the other types' shifts only.

    Examples
    --------
    >>> scores, types = inner_scores(model, "stimulated")  # doctest: +SKIP
    """
    kind = model.settings.blend
    lin = _linear(model, name)
    is_c, is_p, types = _training(model, name)
    inner = copy.copy(model)
    inner.settings = model.settings.replace(blend="none")
    ref = model.references[name]
    rows = []
    for t in lin.types:
        keep = ref.cell_types != t
        if not keep.any():
            continue
        part = copy.copy(ref)
        part.codes, part.shifts = ref.codes[keep], ref.shifts[keep]
        part.cell_types, part.obs_names = ref.cell_types[keep], ref.obs_names[keep]
        inner.references = {**model.references, name: part}
        ctrl = model.adata[is_c & (types == t)]
        X = dense(ctrl.X).astype(np.float64)
        pred = np.asarray(inner.predict(ctrl, name, source="transfer").X, np.float64)
        m_model, m_lin = pred.mean(0), _masked(lin.predict(X, kind, skip=t), pred).mean(0)
        m_real = np.asarray(model.adata[is_p & (types == t)].X.mean(0), np.float64).ravel()
        m_ctrl = X.mean(0)
        rows.append([_score(w * m_model + (1 - w) * m_lin, m_real, m_ctrl) for w in GRID])
    return np.asarray(rows).reshape(-1, len(GRID)), [str(t) for t in lin.types]


def choose_weight(model, name: str) -> float:
    """The blend weight for ``name``: ``blend_weight`` if set, else by inner validation.

    Examples
    --------
    >>> choose_weight(model, "stimulated")  # doctest: +SKIP
    0.6
    """
    s = model.settings
    if s.blend_weight is not None:
        return float(s.blend_weight)
    weights = _state(model)["weights"]
    key = _key(model, name)
    if key not in weights:
        scores, types = inner_scores(model, name)
        if len(scores) < 2:
            weights[key] = FALLBACK
            logger.info("blend: fewer than 2 training types perturbed; weight %.1f", FALLBACK)
        else:
            mean = scores.mean(0)
            # ties go to the larger weight: the model, unless the linear transfer is better
            weights[key] = float(GRID[len(GRID) - 1 - np.argmax(mean[::-1])])
            logger.info(
                "blend %s for '%s': weight %.2f by inner validation on %d training types",
                s.blend, name, weights[key], len(types),
            )  # fmt: skip
    return weights[key]


def apply(model, ctrl, name: str, shift_from: str, X: np.ndarray) -> np.ndarray:
    """``X`` (the model's prediction of ``ctrl``) blended with the linear transfer.

    Identity when ``blend="none"``, at weight 1, or for shifts not transferred from a
    perturbation seen in training.

    Examples
    --------
    >>> X = apply(model, ctrl, "stimulated", "transfer", X)  # doctest: +SKIP
    """
    if model.settings.blend == "none" or shift_from != "transfer":
        return X
    w = choose_weight(model, name)
    if w == 1.0:
        return X
    X = np.asarray(X, np.float64)
    lin = _linear(model, name).predict(dense(ctrl.X).astype(np.float64), model.settings.blend)
    return (w * X + (1.0 - w) * _masked(lin, X)).astype(np.float32)


def _masked(lin: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The linear prediction where the model's is non-zero: the blend keeps the model's zeros.

    A linear shift is dense: it lifts every zero of a cell a little, which a rank test reads as
    a change of every gene (pca_ot's deg_overlap on Kang is 0.13 for this reason). Where the
    model predicts 0 the blend stays 0, so the cells keep their sparsity.
    """
    return np.where(pred > 0, lin, 0.0)


# ------------------------------------------------------------------ persistence
_FIELDS = ("mean", "components", "codes", "shifts", "cell_types", "types", "sums", "counts")


def pack(model) -> dict[str, np.ndarray] | None:
    """The blend's fitted state (linear transfers and chosen weights) as plain arrays.

    ``None`` when ``blend="none"``. Fits what is missing, so it needs the training cells.

    Examples
    --------
    >>> np.savez("blend.npz", **pack(model))  # doctest: +SKIP
    """
    if model.settings.blend == "none":
        return None
    seen = [p for p in model.perturbations if p in model.references]
    out: dict[str, np.ndarray] = {"names": np.asarray(seen, dtype="U")}
    out["kind"] = np.asarray(model.settings.blend, dtype="U")
    keys, weights = [], []
    for i, p in enumerate(seen):
        lin = _linear(model, p)
        for f in _FIELDS:
            out[f"{i}_{f}"] = np.asarray(getattr(lin, f))
        if model.settings.blend_weight is None:
            w = choose_weight(model, p)
            keys.append(_key(model, p))
            weights.append(w)
    out["weight_keys"] = np.asarray(keys, dtype="U")
    out["weights"] = np.asarray(weights, dtype=np.float64)
    return out


def unpack(model, arrays) -> None:
    """Restore :func:`pack`'s state on a loaded ``model``.

    Examples
    --------
    >>> unpack(model, np.load("blend.npz"))  # doctest: +SKIP
    """
    state = _state(model)
    for i, p in enumerate(arrays["names"].astype(str)):
        values = {f: arrays[f"{i}_{f}"] for f in _FIELDS}
        values["cell_types"] = values["cell_types"].astype(str)
        values["types"] = values["types"].astype(str)
        state["linear"][str(p), str(arrays["kind"])] = Linear(**values)
    keys = arrays["weight_keys"].astype(str)
    state["weights"].update(zip(keys, arrays["weights"].astype(float).tolist(), strict=True))
