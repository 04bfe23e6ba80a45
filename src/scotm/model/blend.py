"""The small-data safeguard: move the model's prediction towards a linear transfer.

With few cells the network may do worse than a linear transfer that needs no training. The
``blend`` setting (:class:`~scotm.model.config.PredictConfig`) moves the mean of the model's
predicted cells to ``w * model + (1 - w) * linear``, where ``linear`` is

- ``"pca_ot"``: EVALUATION.md's ``pca_ot`` (100-component PCA of the training cells, exact
  OT within each training cell type, the 30 most cosine-similar shifts), or
- ``"mean_shift"``: the control cell plus the mean training response;

``"auto"`` (the default) is ``"pca_ot"`` for a model of one perturbation trained on fewer
than ``small_data_cells`` cells (5,000), and no blend otherwise.

**Only the mean moves.** Each gene's change of mean is added to the cells where the model
predicts it non-zero, so the cells keep the model's spread and sparsity. (Mixing the two
predictions cell by cell averages two partly independent noises and shrank r2_var_deg on Kang
at 5% from 0.44 to 0.38 at the same means; a linear shift added to zeros would make a rank
test call nearly every gene changed.) A cell's prediction so depends on the mean of the cells
predicted with it; one cell alone gets the cell-by-cell mix.

The weight ``w`` (``blend_weight``; ``None`` = chosen) is chosen by **inner validation on the
training cell types only**: each training type observed perturbed is predicted from its own
control cells with shifts from other training types (the model through its own prediction
path, the linear transfer likewise), both are scored against that type's real perturbed cells
(r2 of the means and r of the changes over its 100 most changed genes), and the grid weight
with the best mean score wins (ties go to the model).

- ``blend_validation="refit"`` (default): the network is retrained without the inner types'
  perturbed cells, once per group of :data:`INNER_GROUPS` groups of types, and the linear side
  leaves out the same types' shifts, so both are scored on types they never saw perturbed (the
  linear side's PCA axes still come from every training cell: they are unsupervised). With
  fewer than :data:`MIN_REFIT_TYPES` perturbed training types an inner network would learn
  from a single type, so the weight is 1 (the model).
- ``"shared"``: the trained network is reused and only the inner type's shifts are left out;
  fast, but the network saw that type's perturbed cells, which flatters it (on Kang at 5% it
  picked weights near 1).

Held-out cells never enter: the prediction's own control cells are used only as the input.
The blend acts on the predicted expression, so it works whatever network or decoder produced
it. It applies to shifts transferred from a perturbation seen in training
(``shift_from == "transfer"``).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import transport
from .._arrays import dense
from .._errors import ScotmInputError

logger = logging.getLogger("scotm.model")

#: The ``blend`` setting's options.
BLENDS = ("auto", "none", "pca_ot", "mean_shift")
#: The weights inner validation chooses from (1 = the model alone, 0 = the linear transfer).
GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
#: The weight when inner validation is impossible: fewer than two perturbed training types
#: (``"shared"``) or than :data:`MIN_REFIT_TYPES` (``"refit"``).
FALLBACK = 1.0
N_COMPONENTS, K_LINEAR, N_GENES = 100, 30, 100
#: ``blend_validation="refit"``: the training types are dealt into this many groups, and the
#: network is retrained once per group without the group's perturbed cells
INNER_GROUPS = 2
#: ``"refit"`` needs this many perturbed training types: each inner network keeps two or more
MIN_REFIT_TYPES = 4
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

    def predict(self, X: np.ndarray, kind: str, skip: Sequence[str] = ()) -> np.ndarray:
        """The linear prediction of control cells ``X`` (shifts of the types ``skip`` left out)."""
        if kind == "mean_shift":
            keep = ~np.isin(self.types, list(skip))
            ctrl = self.sums[keep, 0].sum(0) / self.counts[keep, 0].sum()
            delta = self.sums[keep, 1].sum(0) / self.counts[keep, 1].sum() - ctrl
            return np.clip(X + delta, 0.0, None)
        keep = ~np.isin(self.cell_types, list(skip))
        z = (X - self.mean) @ self.components.T
        shift = transport.transfer_shifts(z, self.codes[keep], self.shifts[keep], K_LINEAR)[0]
        return np.clip(X + shift @ self.components, 0.0, None)


def kind_of(model) -> str:
    """The linear transfer the model blends with (``"none"``: no blend), ``"auto"`` resolved.

    ``"auto"`` is ``"pca_ot"`` when the model was trained on fewer than ``small_data_cells``
    cells (training and validation cells together) and one perturbation, else ``"none"``:
    inner validation is per perturbation, and with many (a drug screen) its trainings and
    linear fits would cost more than the model.

    Examples
    --------
    >>> kind_of(model)  # doctest: +SKIP
    'none'
    """
    s = model.settings
    if s.blend != "auto":
        return s.blend
    info = model.train_info
    n = int(info.get("n_train_cells", 0)) + int(info.get("n_val_cells", 0))
    small = 0 < n < s.small_data_cells and len(model.perturbations) == 1
    return "pca_ot" if small else "none"


def _state(model) -> dict:
    if getattr(model, "_blend", None) is None:
        model._blend = {"linear": {}, "weights": {}}
    return model._blend


def _training(model, name: str):
    """The training cells' control mask, ``name``'s mask and cell types."""
    if model.adata is None:
        raise ScotmInputError(
            "this model keeps no training cells and no saved blend for these settings; set "
            "blend='none', or retrain and save the model with the blend setting it will use"
        )
    keys = model.design
    cond, types = keys.conditions(model.adata), keys.cell_types(model.adata)
    return cond == keys.control, cond == name, types


def _cells(model):
    """The training cells in memory: a backed file is read once (the blend reads every cell
    several times; with ``"auto"`` it is under ``small_data_cells`` cells)."""
    state = _state(model)
    if "cells" not in state:
        adata = model.adata
        state["cells"] = adata.to_memory() if adata.isbacked else adata
    return state["cells"]


def fit_linear(model, name: str, kind: str = "pca_ot") -> Linear:
    """Fit perturbation ``name``'s linear transfer of ``kind`` on the model's training cells.

    Examples
    --------
    >>> lin = fit_linear(model, "stimulated")  # doctest: +SKIP
    """
    from sklearn.decomposition import PCA

    is_c, is_p, types = _training(model, name)
    X = dense(_cells(model).X).astype(np.float64)
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
    kind = kind_of(model)
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
    kind = kind_of(model)
    lin = _linear(model, name)
    is_c, is_p, types = _training(model, name)
    ref = model.references[name]
    scored = [str(t) for t in lin.types if (ref.cell_types != t).any()]
    if model.settings.blend_validation == "refit" and len(scored) < MIN_REFIT_TYPES:
        return np.zeros((0, len(GRID))), scored  # too few types to refit: the model's weight
    if model.settings.blend_validation == "refit":
        inner_of = _refitted(model, name, scored)
    else:
        inner_of = _shared(model, name)
    rows = []
    for t in scored:
        # both sides leave out the same types' shifts: the linear side as much as the model
        inner, left_out = inner_of(t)
        ctrl = _cells(model)[is_c & (types == t)]
        X = dense(ctrl.X).astype(np.float64)
        pred = np.asarray(inner.predict(ctrl, name, source="transfer").X, np.float64)
        m_model, m_lin = pred.mean(0), _masked(lin.predict(X, kind, left_out), pred).mean(0)
        m_real = np.asarray(_cells(model)[is_p & (types == t)].X.mean(0), np.float64).ravel()
        m_ctrl = X.mean(0)
        rows.append([_score(w * m_model + (1 - w) * m_lin, m_real, m_ctrl) for w in GRID])
    return np.asarray(rows).reshape(-1, len(GRID)), scored


def _shared(model, name: str):
    """Inner models that reuse the trained network: only type ``t``'s shifts are left out."""
    inner = copy.copy(model)
    inner.settings = model.settings.replace(blend="none")
    inner._blend = None
    ref = model.references[name]

    def of(t: str):
        keep = ref.cell_types != t
        part = copy.copy(ref)
        part.codes, part.shifts = ref.codes[keep], ref.shifts[keep]
        part.cell_types, part.obs_names = ref.cell_types[keep], ref.obs_names[keep]
        inner.references = {**model.references, name: part}
        return inner, [t]

    return of


def _refitted(model, name: str, types: list[str]):
    """Inner models retrained without a group's perturbed cells, one per group of ``types``.

    The types are dealt in order into :data:`INNER_GROUPS` groups; each group's model is the
    same configuration trained on the training cells less that group's ``name`` cells.
    """
    from .core import SCOTM

    _, is_p, cell_types = _training(model, name)
    settings = model.settings.replace(blend="none", members=1).as_dict()  # one network each
    embedding = None
    if model.cell_embedding is not None and model.state.gene_prior is None:
        embedding = model.cell_embedding["key"]  # the user's obsm key (the built-in prior
        # is recomputed from the same genes by the inner model's own setup)
    groups = [types[i::INNER_GROUPS] for i in range(min(INNER_GROUPS, len(types)))]
    by_type = {}
    for i, group in enumerate(groups):
        drop = is_p & np.isin(cell_types, group)
        logger.info(
            "blend: refit %d/%d without the '%s' cells of %s", i + 1, len(groups), name,
            ", ".join(group),
        )  # fmt: skip
        inner = SCOTM(
            _cells(model)[~drop].copy(), **model.keys, cell_embedding_key=embedding, **settings
        ).train(model.train_info.get("epoch_cap"), progress=False)  # the same epoch cap
        by_type.update(dict.fromkeys(group, (inner, group)))
    return by_type.__getitem__


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
            logger.info(
                "blend: too few perturbed training types to validate (%d); weight %.1f",
                len(types), FALLBACK,
            )  # fmt: skip
        else:
            mean = scores.mean(0)
            # ties go to the larger weight: the model, unless the linear transfer is better
            weights[key] = float(GRID[len(GRID) - 1 - np.argmax(mean[::-1])])
            logger.info(
                "blend %s for '%s': weight %.2f by inner validation on %d training types",
                kind_of(model), name, weights[key], len(types),
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
    kind = kind_of(model)
    if kind == "none" or shift_from != "transfer":
        return X
    w = choose_weight(model, name)
    if w == 1.0:
        return X
    X = np.asarray(X, np.float64)
    lin = _masked(_linear(model, name).predict(dense(ctrl.X).astype(np.float64), kind), X)
    # the mean moves, the cells keep the model's spread: each gene's change goes to the
    # cells where the model predicts it non-zero (scaled so the gene's mean moves by it)
    change = (1.0 - w) * (lin.mean(0) - X.mean(0))
    on = X > 0
    lift = change / np.maximum(on.mean(0), 1.0 / len(X))
    return np.where(on, np.clip(X + lift, 0.0, None), 0.0).astype(np.float32)


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
    if kind_of(model) == "none":
        return None
    seen = [p for p in model.perturbations if p in model.references]
    out: dict[str, np.ndarray] = {"names": np.asarray(seen, dtype="U")}
    out["kind"] = np.asarray(kind_of(model), dtype="U")
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
