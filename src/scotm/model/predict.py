"""Prediction's parts: batched inference, the perturbation's vector, and the decode options."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .._arrays import dense
from .._errors import ScotmInputError

logger = logging.getLogger("scotm.model")


@torch.no_grad()
def encode(network, X, ce: np.ndarray | None, batch_size: int = 4096) -> list[np.ndarray]:
    """Codes of the rows of ``X`` (sparse or dense), a batch at a time.

    Examples
    --------
    >>> codes = np.vstack(encode(model.module, ctrl.X, None))  # doctest: +SKIP
    """
    network.eval()
    out = []
    for i in range(0, X.shape[0], batch_size):
        x = torch.from_numpy(dense(X[i : i + batch_size]))
        c = None if ce is None else torch.from_numpy(ce[i : i + batch_size])
        out.append(network.encode(x, c)[0].numpy())
    return out


@torch.no_grad()
def decode(network, z: np.ndarray, batch_size: int = 4096, cond: np.ndarray | None = None):
    """Decoded expression of codes ``z``, a batch at a time.

    ``cond``: one condition vector for every code, for a condition-aware network
    (:class:`scotm.module.CondAEModule`); ``None`` decodes as the network's default.

    Examples
    --------
    >>> X = decode(model.module, model.get_latent(ctrl))  # doctest: +SKIP
    """
    out = []
    for i in range(0, len(z), batch_size):
        zb = torch.from_numpy(z[i : i + batch_size].astype(np.float32))
        if cond is None:
            out.append(network.decode(zb).numpy())
        else:
            c = torch.from_numpy(np.broadcast_to(cond, (len(zb), cond.size)).astype(np.float32))
            out.append(network.decode(zb, c).numpy())
    return np.vstack(out)


@torch.no_grad()
def response_shift(
    response, z: np.ndarray, vec: np.ndarray, ce: np.ndarray | None, batch_size: int = 8192
) -> np.ndarray:
    """The response network's shift of each code under the perturbation embedded as ``vec``.

    Examples
    --------
    >>> shift = response_shift(model.response, z, vec, None)  # doctest: +SKIP
    """
    out = []
    for i in range(0, len(z), batch_size):
        zb = torch.from_numpy(z[i : i + batch_size].astype(np.float32))
        eb = torch.from_numpy(np.broadcast_to(vec, (len(zb), vec.size)).copy())
        cb = None if ce is None else torch.from_numpy(ce[i : i + batch_size])
        out.append(response(zb, eb, cb).numpy())
    return np.vstack(out).astype(np.float64)


def _residual(network, X, z: np.ndarray, z_new: np.ndarray) -> np.ndarray:
    # keep each cell's own detail that the decoder cannot reproduce: add the decoded change
    # to the observed cell instead of replacing the cell by its decoding
    return np.clip(dense(X) + decode(network, z_new) - decode(network, z), 0.0, None)


def _full(network, X, z: np.ndarray, z_new: np.ndarray) -> np.ndarray:
    return decode(network, z_new)  # decode the shifted code, as published


def zero_below(X: np.ndarray, threshold: float) -> np.ndarray:
    """``X`` with every value below ``threshold`` set to 0 (the ``zero_below`` setting).

    Examples
    --------
    >>> zero_below(np.array([[0.01, 0.5], [2.0, 0.09]]), 0.1)
    array([[0. , 0.5],
           [2. , 0. ]])
    """
    if threshold <= 0:
        return X
    return np.where(X < threshold, 0.0, X).astype(X.dtype, copy=False)


#: The ``decode`` setting's options: ``f(network, X_ctrl, z, z_shifted) -> expression``.
DECODERS: dict[str, Callable[..., np.ndarray]] = {"residual": _residual, "full": _full}


#: Where a prediction's latent shift comes from; ``"auto"`` picks ``"transfer"`` for a
#: perturbation seen in training, ``"additive"`` for a combination ``"A+B"`` whose parts were
#: all seen alone, and :data:`UNSEEN_DEFAULT` for any other.
SOURCES = ("auto", "transfer", "additive", "response", "ridge")
#: Separates the parts of a combination of perturbations (Norman 2019's and CPA's convention).
COMBO_SEP = "+"
#: The better of the two embedding routes on held-out real perturbations (Norman 2019 singles,
#: BENCHMARKS.md "Many perturbations on real data"): the ridge regression.
UNSEEN_DEFAULT = "ridge"


def combo_parts(name: str, seen: Sequence[str]) -> list[str] | None:
    """The parts of combination ``name`` when every part was seen alone, else ``None``.

    Examples
    --------
    >>> combo_parts("KLF1+MAP2K6", ["KLF1", "MAP2K6"])
    ['KLF1', 'MAP2K6']
    >>> combo_parts("KLF1+SET", ["KLF1"]) is None
    True
    """
    parts = [p.strip() for p in name.split(COMBO_SEP)]
    return parts if len(parts) > 1 and all(p in seen for p in parts) else None


def check_source(ctrl, name: str, seen: bool, source: str, parts: list[str] | None = None) -> str:
    """Check a prediction request; returns the source of the shift (see :data:`SOURCES`).

    Examples
    --------
    >>> check_source(ctrl, "drugZ", seen=False, source="auto")  # doctest: +SKIP
    'ridge'
    """
    if ctrl.n_obs == 0:
        raise ScotmInputError("no control cells to predict from")
    if source not in SOURCES:
        raise ScotmInputError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    if source == "transfer" and not seen:
        raise ScotmInputError(
            f"perturbation '{name}' was not seen in training; it has no OT shifts to "
            "transfer (use source='auto', 'ridge' or 'response')"
        )
    if source == "additive" and parts is None:
        raise ScotmInputError(
            f"'{name}' is not a combination 'A{COMBO_SEP}B' of perturbations seen alone in "
            "training; source='additive' needs one"
        )
    if source == "auto":
        return "transfer" if seen else "additive" if parts else UNSEEN_DEFAULT
    return source


def latent_shift(
    model,
    ctrl,
    z: np.ndarray,
    name: str,
    source: str,
    given: Any | None,
    extra: np.ndarray | None,
) -> tuple[np.ndarray, str, dict[str, float]]:
    """The latent shift of codes ``z`` (of ``ctrl``) under perturbation ``name``.

    ``extra`` is ``ctrl``'s prior as the encoder got it (``model.cell_embedding_of``): the
    response network reads it too.

    Returns the shift, where it came from (see :data:`SOURCES`) and, for a transferred
    shift, each training cell type's share of it.

    Examples
    --------
    >>> shift, how, shares = latent_shift(model, ctrl, z, "stimulated", "auto", None, None)  # doctest: +SKIP
    """
    parts = combo_parts(name, list(model.references))
    shift_from = check_source(ctrl, name, name in model.references, source, parts)
    s = model.settings
    if shift_from == "transfer":
        shift, sources = transfer(model.references[name], z, s)
        return shift, shift_from, sources
    if shift_from == "additive":
        return additive_shift(model, z, parts), shift_from, {}
    vec = perturbation_vector(model, name, given)
    if shift_from == "ridge":
        return ridge_shift(model, z, vec), shift_from, {}
    return response_shift(model.response, z, vec, extra), shift_from, {}


def additive_shift(model, z: np.ndarray, parts: list[str]) -> np.ndarray:
    """A combination's shift: the sum of its parts' transferred OT shifts, cell by cell.

    Examples
    --------
    >>> shift = additive_shift(model, model.get_latent(ctrl), ["KLF1", "MAP2K6"])  # doctest: +SKIP
    """
    s = model.settings
    return np.sum([transfer(model.references[p], z, s)[0] for p in parts], 0)


def ridge_shift(model, z: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """A perturbation's shift from its embedding by ridge regression over the training ones.

    Each code gets the mean of the training perturbations' transferred OT shifts (the
    response they share, cell by cell), plus a ridge regression from embedding to each
    training perturbation's mean shift minus their average (what is specific to it). The
    penalty is chosen by leave-one-perturbation-out error over a grid (``RidgeCV``), so with
    embeddings that carry no signal the specific part shrinks to zero. With fewer than three
    training perturbations only the shared part is used.

    Examples
    --------
    >>> shift = ridge_shift(model, model.get_latent(ctrl), vec)  # doctest: +SKIP
    """
    from sklearn.linear_model import RidgeCV

    s = model.settings
    perts = [p for p in model.perturbations if p in model.references]
    shared = np.mean([transfer(model.references[p], z, s)[0] for p in perts], 0)
    if len(perts) < 3:
        return shared
    means = np.vstack([model.references[p].shifts.mean(0) for p in perts]).astype(np.float64)
    E = np.vstack([model.pert_table[p] for p in perts]).astype(np.float64)
    fit = RidgeCV(alphas=np.logspace(-3, 4, 15)).fit(E, means - means.mean(0))
    return shared + fit.predict(np.asarray(vec, dtype=np.float64)[None])[0]


def transfer(ref, z: np.ndarray, settings) -> tuple[np.ndarray, dict[str, float]]:
    """The reference's OT shifts transferred to codes ``z``, and each type's share of them.

    ``settings`` give ``k``, ``per_cell`` and ``neighbour_weights`` (``"balanced"``: each
    neighbour's weight divided by its cell type's number of reference cells).

    Examples
    --------
    >>> shift, sources = transfer(model.references["stimulated"], z, model.settings)  # doctest: +SKIP
    """
    from .. import transport

    codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
    balanced = settings.neighbour_weights == "balanced"
    weights = transport.group_balance(ref.cell_types) if balanced else None
    shift, idx, w = transport.transfer_shifts(
        z, codes, shifts, settings.k, per_cell=settings.per_cell, ref_weights=weights
    )
    types, share = np.unique(ref.cell_types[idx].ravel(), return_inverse=True)
    weights_by_type = np.bincount(share, weights=w.ravel(), minlength=len(types)) / len(z)
    return shift, {str(t): float(v) for t, v in zip(types, weights_by_type, strict=True)}


def perturbation_vector(model, name: str, given: Any | None) -> np.ndarray:
    """The embedding of perturbation ``name``: ``given``, or from the model's setup table.

    Examples
    --------
    >>> vec = perturbation_vector(model, "drugZ", [0.1, 0.2, 0.3])  # doctest: +SKIP
    """
    if model.response is None:
        raise ScotmInputError(
            f"perturbation '{name}' was not seen in training (seen: "
            f"{', '.join(model.perturbations[:5])}) and the model has no response network; "
            "train with argument perturbation_embeddings to predict unseen perturbations"
        )
    dim = model.perturbation_embedding["dim"]
    if given is not None:
        try:
            vec = np.asarray(given, dtype=np.float32).ravel()
        except (TypeError, ValueError) as exc:
            raise ScotmInputError(f"perturbation_embedding for '{name}' is not numeric") from exc
    elif name in model.pert_table:
        vec = model.pert_table[name]
    else:
        raise ScotmInputError(
            f"no embedding for perturbation '{name}', which was not seen in training; pass its "
            "vector as argument perturbation_embedding"
        )
    if vec.shape != (dim,):
        raise ScotmInputError(
            f"the embedding of '{name}' has width {vec.size} but the model was trained "
            f"with width {dim}; embed it with the same model as the training perturbations"
        )
    if not np.isfinite(vec).all():
        raise ScotmInputError(f"the embedding of '{name}' holds NaN or infinite values")
    if name not in model.references:
        logger.warning(
            "'%s' was not seen in training: its shift comes from its embedding alone "
            "(extrapolating)",
            name,
        )
    return vec


def resolve_perturbation(perturbations: list[str], perturbation: str | None) -> str:
    """The perturbation to predict: the one given, or the model's only one.

    Examples
    --------
    >>> resolve_perturbation(["stimulated"], None)
    'stimulated'
    """
    if perturbation is not None:
        return str(perturbation)
    if len(perturbations) == 1:
        return perturbations[0]
    shown = ", ".join(perturbations[:5]) + (", ..." if len(perturbations) > 5 else "")
    raise ScotmInputError(
        f"the model knows {len(perturbations)} perturbations ({shown}); name one with "
        "argument perturbation"
    )


def provenance(model, name: str, seen: bool, shift_from: str, sources: dict) -> dict:
    """``uns['scotm']`` of a prediction: versions, settings, keys and where its shift came from.

    Examples
    --------
    >>> provenance(model, "stimulated", True, False, {})["shift_from"]  # doctest: +SKIP
    'transfer'
    """
    from .persist import FORMAT_VERSION, version

    out = {
        "model_version": version(),
        "format_version": FORMAT_VERSION,
        "settings": model.settings.as_dict(),
        "keys": {k: v for k, v in model.keys.items() if isinstance(v, str)},
        "perturbed": name,
        "perturbation": name,
        "extrapolated": not seen,
        "shift_from": shift_from,
        "shift_sources": sources,
    }
    # the priors' provenance (key, width, source), where the model has them; h5ad cannot
    # store None, so unset fields are left out
    for what, info in (
        ("cell_embedding", model.cell_embedding),
        ("perturbation_embedding", model.perturbation_embedding),
    ):
        if info:
            out[what] = {k: v for k, v in info.items() if v is not None}
    return out
