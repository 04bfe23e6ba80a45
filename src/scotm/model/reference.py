"""The OT reference: what prediction borrows from training (control codes and their shifts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np

from .. import transport
from .._errors import ScotmInputError
from ..design import Keys
from .config import TransportConfig


@dataclass
class Reference:
    """One perturbation's reference: training control codes, their OT shifts, their types."""

    codes: np.ndarray
    shifts: np.ndarray
    cell_types: np.ndarray
    obs_names: np.ndarray


@dataclass
class References:
    """Every training perturbation's :class:`Reference`, plus what the response network needs:
    all control codes (``ctrl_codes``) and, per perturbation, the rows of its reference among
    them (``rows``)."""

    refs: dict[str, Reference]
    ctrl_codes: np.ndarray
    rows: dict[str, np.ndarray]


def build_references(
    Z: np.ndarray,
    adata: ad.AnnData,
    keys: Keys,
    perturbations: Sequence[str],
    config: TransportConfig,
    seed: int,
) -> References:
    """One OT reference per perturbation, coupled within each cell type (or across all).

    Parameters
    ----------
    Z
        The code of every cell of ``adata`` (the training cells, labelled as ``keys`` says).
    config
        ``shift`` (``"ot"`` or ``"mean"``), ``ot_method`` and ``couple_within_cell_type``.

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"condition": ["control"] * 2 + ["stimulated"] * 2, "cell_type": "A"})
    >>> cells = ad.AnnData(obs=obs.set_axis(list("abcd")))
    >>> Z = np.array([[0.0], [0.0], [1.0], [1.0]])
    >>> refs = build_references(Z, cells, Keys(), ["stimulated"], TransportConfig(), 0)
    >>> refs.refs["stimulated"].shifts.ravel().tolist()
    [1.0, 1.0]
    """
    cond, types, obs_names = keys.conditions(adata), keys.cell_types(adata), adata.obs_names
    is_c = cond == keys.control
    zc = Z[is_c]
    refs: dict[str, Reference] = {}
    rows: dict[str, np.ndarray] = {}
    for pert in perturbations:
        is_p = cond == pert
        if not is_p.any():
            raise ScotmInputError(
                f"no '{pert}' cells in training; the model needs at least one cell "
                f"type observed perturbed (check argument perturbed and argument condition_key)"
            )
        zp = Z[is_p]
        if config.shift == "mean":
            mask, shifts = transport.mean_shifts(zc, zp, types[is_c], types[is_p])
        else:
            mask, shifts = transport.ot_shifts(
                zc,
                zp,
                types[is_c],
                types[is_p],
                within_groups=config.couple_within_cell_type,
                method=config.ot_method,
                max_exact=config.max_exact,
                seed=seed,
            )
        if not mask.any():
            which = "" if len(perturbations) == 1 else f" under '{pert}'"
            raise ScotmInputError(
                f"no training cell type has both control and perturbed cells{which}; "
                "the model needs at least one to learn a response"
            )
        refs[pert] = Reference(
            codes=zc[mask].astype(np.float32),
            shifts=shifts.astype(np.float32),
            cell_types=types[is_c][mask].astype(str),
            obs_names=np.asarray(obs_names[is_c][mask].astype(str)),
        )
        rows[pert] = np.flatnonzero(mask)
    return References(refs, zc.astype(np.float32), rows)


def pack(refs: dict[str, Reference], perturbations: Sequence[str]) -> dict[str, np.ndarray]:
    """The references as plain arrays (one ``.npz``), in ``perturbations`` order.

    Examples
    --------
    >>> np.savez("transport.npz", **pack(model.references, model.perturbations))  # doctest: +SKIP
    """
    parts = [refs[p] for p in perturbations]
    return {
        "codes": np.vstack([r.codes for r in parts]),
        "shifts": np.vstack([r.shifts for r in parts]),
        "cell_types": np.concatenate([r.cell_types for r in parts]).astype("U"),
        "obs_names": np.concatenate([r.obs_names for r in parts]).astype("U"),
        "perturbation": np.repeat(
            np.asarray(perturbations, dtype="U"), [len(r.codes) for r in parts]
        ),
    }


def unpack(arrays, perturbations: Sequence[str]) -> dict[str, Reference]:
    """:func:`pack`'s arrays back into references.

    Examples
    --------
    >>> refs = unpack(np.load("transport.npz"), ["stimulated"])  # doctest: +SKIP
    """
    which = arrays["perturbation"]
    out = {}
    for p in perturbations:
        sel = which == p
        out[p] = Reference(
            codes=arrays["codes"][sel],
            shifts=arrays["shifts"][sel],
            cell_types=arrays["cell_types"][sel],
            obs_names=arrays["obs_names"][sel],
        )
    return out
