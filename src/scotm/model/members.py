"""Several networks as one model (``members > 1``): a mixture, not an average.

Each member is the same method trained with its own seed (``seed + SEED_STRIDE * m``: its
own weights, batches, validation split and so its own OT references). A prediction deals
the control cells among the members by a hash of each cell's name and lets each member
predict its share (the small-data blend, where it acts, then moves the mixed prediction's
mean, with member 0's weight). The mean response over many cells is then the members'
average, which removes much of the part of the error that one seed decides; each cell still
carries one network's spread, which a cell-by-cell mean of the members would shrink
(BENCHMARKS.md, "Two networks as a mixture").

Member 0 is the :class:`~scotm.model.SCOTM` itself; the others are kept in its
``siblings`` list and saved beside it (:mod:`scotm.model.persist`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from .core import SCOTM

#: member ``m`` trains with seed ``seed + SEED_STRIDE * m``: far from the seeds a user steps
#: through (0, 1, 2, ...), so two models with nearby seeds share no member
SEED_STRIDE = 1000


def member_state(state: Any, m: int) -> Any:
    """The state of member ``m`` (> 0): the same model, one network, its own seed.

    Examples
    --------
    >>> member_state(model.state, 1).settings.seed  # doctest: +SKIP
    1000
    """
    s = state.settings
    settings = s.replace(seed=s.seed + SEED_STRIDE * m, members=1)
    return dataclasses.replace(state, settings=settings)


def build_siblings(model: SCOTM) -> list[SCOTM]:
    """Members 1 .. ``members - 1`` of ``model``, untrained, on its training cells.

    Examples
    --------
    >>> [s.settings.seed for s in build_siblings(model)]  # doctest: +SKIP
    [1000]
    """
    cls = type(model)
    n = model.settings.members
    return [cls(model.adata, state=member_state(model.state, m)) for m in range(1, n)]


def assign(obs_names: Sequence[str], n_members: int, seed: int = 0) -> np.ndarray:
    """Which member predicts each cell: a hash of its name (and the seed), modulo the count.

    The same cell goes to the same member whatever else is predicted with it and in
    whatever order.

    Examples
    --------
    >>> a = assign([f"cell{i}" for i in range(1000)], 2)
    >>> sorted(set(a.tolist())), 400 < int(a.sum()) < 600
    ([0, 1], True)
    >>> bool((assign(["x", "y"], 2) == assign(["y", "x"], 2)[::-1]).all())
    True
    """
    if n_members <= 1:
        return np.zeros(len(obs_names), dtype=np.int64)
    names = np.asarray([f"{seed}:{n}" for n in obs_names], dtype=object)
    hashed = pd.util.hash_array(names, hash_key="scotm-members-00", categorize=False)
    return (hashed % np.uint64(n_members)).astype(np.int64)


def mix(
    model: SCOTM,
    ctrl: Any,
    X: np.ndarray,
    predict_rows: Callable[[SCOTM, Any], np.ndarray],
) -> np.ndarray:
    """``X`` (member 0's prediction of every cell) with each sibling's cells replaced by
    ``predict_rows(sibling, ctrl[rows])``.

    Examples
    --------
    >>> X = mix(model, ctrl, X0, lambda sib, sub: sib.predict(sub).X)  # doctest: +SKIP
    """
    if not model.siblings:
        return X
    member = assign(ctrl.obs_names, len(model.siblings) + 1, model.settings.seed)
    X = np.array(X, copy=True)
    for m, sib in enumerate(model.siblings, start=1):
        rows = np.flatnonzero(member == m)
        if len(rows):
            X[rows] = predict_rows(sib, ctrl[rows])
    return X
