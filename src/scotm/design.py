"""The experiment design: where conditions and cell types live, and how data are split.

One home, in the role of scvi-tools' ``AnnDataManager``, for

- :class:`Keys`: the ``obs`` keys, the control label and the perturbation(s);
- :func:`labels`: an ``obs`` column as strings (the one accessor);
- the checks of keys, labels, values and genes, run once per entry point;
- the splits, registered by kind: ``"cell_type"`` (leave a cell type's perturbed cells out,
  :func:`holdout_split`) and ``"perturbation"`` (leave a perturbation out). A new kind is one
  more function decorated with :func:`register_split`, here.

Errors speak of arguments (``argument control``) and ``obs`` keys; the command line
translates argument names into its flags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import anndata as ad
import numpy as np

from ._errors import ScotmInputError
from ._subset import copy_subset
from .validate import check_finite, check_keys  # noqa: F401  (the design's checks live there)

logger = logging.getLogger(__name__)


def labels(adata: ad.AnnData, key: str) -> np.ndarray:
    """``adata.obs[key]`` as an array of strings.

    Examples
    --------
    >>> import pandas as pd
    >>> labels(ad.AnnData(obs=pd.DataFrame({"c": [1, 2]}, index=["a", "b"])), "c")
    array(['1', '2'], dtype=object)
    """
    return adata.obs[key].astype(str).to_numpy()


@dataclass(frozen=True)
class Keys:
    """Where conditions and cell types live in ``obs``, and the condition labels.

    ``perturbed`` is one label, several (a tuple) or ``None`` for every label other than
    ``control``.

    Examples
    --------
    >>> Keys(perturbed="IFN").as_kwargs()["perturbed"]
    'IFN'
    """

    condition_key: str = "condition"
    control: str = "control"
    perturbed: str | tuple[str, ...] | None = "stimulated"
    cell_type_key: str = "cell_type"

    def __post_init__(self) -> None:
        if isinstance(self.perturbed, list):
            object.__setattr__(self, "perturbed", tuple(str(p) for p in self.perturbed))

    def as_kwargs(self) -> dict:
        """The four fields as keyword arguments (several labels as a list)."""
        p = self.perturbed
        return {
            "condition_key": self.condition_key,
            "control": self.control,
            "perturbed": list(p) if isinstance(p, tuple) else p,
            "cell_type_key": self.cell_type_key,
        }

    def conditions(self, adata: ad.AnnData) -> np.ndarray:
        """Every cell's condition label."""
        return labels(adata, self.condition_key)

    def cell_types(self, adata: ad.AnnData) -> np.ndarray:
        """Every cell's type."""
        return labels(adata, self.cell_type_key)

    def perturbations(self, adata: ad.AnnData) -> list[str]:
        """The perturbation labels: ``perturbed`` itself, or every non-control label."""
        p = self.perturbed
        if isinstance(p, str):
            return [p]
        if p is None:
            found = sorted(set(self.conditions(adata)) - {self.control})
            if not found:
                raise ScotmInputError(
                    f"obs['{self.condition_key}'] has no label other than '{self.control}'; "
                    "the model needs perturbed cells (check argument condition_key and "
                    "argument control)"
                )
            return found
        found = list(dict.fromkeys(str(x) for x in p))
        if not found:
            raise ScotmInputError("perturbed is an empty list; name at least one perturbation")
        if self.control in found:
            raise ScotmInputError(
                f"'{self.control}' is the control label; it cannot also be perturbed"
            )
        return found

    def check(self, adata: ad.AnnData) -> list[str]:
        """Check keys and every label against ``adata``; returns the perturbation labels."""
        single = self.perturbed if isinstance(self.perturbed, str) else None
        check_keys(adata, self.condition_key, self.control, single, self.cell_type_key)
        perts = self.perturbations(adata)
        present = set(self.conditions(adata))
        for p in perts:
            if p not in present:
                check_keys(adata, self.condition_key, self.control, p, self.cell_type_key)
        return perts

    def pert_mask(self, adata: ad.AnnData) -> np.ndarray:
        """Cells under any of the perturbations (any non-control label when ``None``)."""
        cond = self.conditions(adata)
        if self.perturbed is None:
            return cond != self.control
        return np.isin(cond, self.perturbations(adata))


def check_genes(adata: ad.AnnData, var_names: Sequence[str], what: str = "the data") -> None:
    """Refuse data whose genes are not exactly ``var_names``, in that order.

    Examples
    --------
    >>> check_genes(ad.AnnData(np.ones((1, 2))), ["0", "1"])
    """
    genes = np.asarray(adata.var_names.astype(str))
    want = np.asarray(var_names).astype(str)
    if np.array_equal(genes, want):
        return
    have = set(genes)
    missing = [g for g in want if g not in have]
    extra = len(have - set(want))
    if missing:
        raise ScotmInputError(
            f"{len(missing)} of the model's {len(want)} genes are missing from {what} "
            f"(e.g. {', '.join(missing[:3])}) and {extra} are extra; "
            "subset with the training genes: adata[:, var_names]"
        )
    raise ScotmInputError(
        f"{what} has the training genes in a different order (and {extra} extra); "
        "reorder explicitly with adata[:, var_names]"
    )


# ----------------------------------------------------------------------------- splits


@dataclass
class Fold:
    """One held-out group: what training may see, and what it is judged against."""

    holdout: str
    train: ad.AnnData
    ctrl: ad.AnnData
    real: ad.AnnData


#: ``split(adata, holdout, keys, check=True) -> Fold``; ``check=False`` skips the key and
#: label checks (the caller ran :meth:`Keys.check` on these data already)
Split = Callable[..., Fold]
#: Split kinds by name; :func:`register_split` adds one.
SPLITS: dict[str, Split] = {}


def register_split(kind: str) -> Callable[[Split], Split]:
    """Register ``func(adata, holdout, keys, check=True) -> Fold`` as split kind ``kind``.

    Examples
    --------
    >>> @register_split("nothing_out")
    ... def _all(adata, holdout, keys, check=True):
    ...     return Fold(holdout, adata, adata, adata)
    >>> "nothing_out" in SPLITS
    True
    >>> del SPLITS["nothing_out"]
    """

    def add(func: Split) -> Split:
        SPLITS[kind] = func
        return func

    return add


def split(
    adata: ad.AnnData,
    holdout: str | Sequence[str],
    keys: Keys = Keys(),
    kind: str = "cell_type",
    *,
    check: bool = True,
) -> Fold:
    """The fold that holds ``holdout`` out, by split ``kind`` (see :data:`SPLITS`).

    Examples
    --------
    >>> import scotm
    >>> toy = scotm.datasets.toy(n_cells=60, n_genes=8)
    >>> split(toy, "type1").train.n_obs
    50
    """
    if kind not in SPLITS:
        raise ScotmInputError(f"unknown split kind '{kind}'; choose from {', '.join(SPLITS)}")
    return SPLITS[kind](adata, holdout, keys, check=check)


def holdout_types(adata: ad.AnnData, holdout: str, keys: Keys) -> np.ndarray:
    """Every cell's type, after checking that ``holdout`` is one of them.

    Examples
    --------
    >>> import scotm
    >>> holdout_types(scotm.datasets.toy(n_cells=6, n_genes=4), "type0", Keys())[:2]
    array(['type0', 'type1'], dtype=object)
    """
    types = keys.cell_types(adata)
    if holdout not in set(types):
        present = ", ".join(sorted(set(types)))
        raise ScotmInputError(
            f"cell type '{holdout}' not found in obs['{keys.cell_type_key}']; values are: "
            f"{present}; set it with argument holdout"
        )
    return types


@register_split("cell_type")
def holdout_split(
    adata: ad.AnnData, holdout: str, keys: Keys = Keys(), *, check: bool = True
) -> Fold:
    """Leave cell type ``holdout``'s perturbed cells out of training.

    Its control cells stay in training, since a real user has them. With several
    perturbations (``keys.perturbed`` a tuple, or ``None``) every one of them is held out.

    Examples
    --------
    >>> import scotm
    >>> fold = holdout_split(scotm.datasets.toy(n_cells=60, n_genes=8), "type1")
    >>> fold.ctrl.n_obs, fold.real.n_obs
    (10, 10)
    """
    if check:
        keys.check(adata)
    types = holdout_types(adata, holdout, keys)
    cond = keys.conditions(adata)
    in_h = types == holdout
    is_ctrl, is_pert = cond == keys.control, keys.pert_mask(adata)
    for mask, label, arg in (
        (is_ctrl, keys.control, "control"),
        (is_pert, keys.perturbed, "perturbed"),
    ):
        if not (in_h & mask).any():
            raise ScotmInputError(
                f"cell type '{holdout}' has no '{label}' cells in obs['{keys.condition_key}']; "
                f"it cannot be a held-out fold; pick another argument holdout or check "
                f"argument {arg}"
            )
    train_mask = (is_ctrl | is_pert) & ~(in_h & is_pert)
    return Fold(
        holdout=holdout,
        train=copy_subset(adata, train_mask),
        ctrl=copy_subset(adata, in_h & is_ctrl),
        real=copy_subset(adata, in_h & is_pert),
    )


@register_split("perturbation")
def perturbation_split(
    adata: ad.AnnData, holdout: str | Sequence[str], keys: Keys = Keys(), *, check: bool = True
) -> Fold:
    """Leave perturbation ``holdout`` (or several) out of training entirely, in every type.

    Training keeps the control cells and every other perturbation's cells; ``ctrl`` is every
    control cell, ``real`` the held-out perturbations' cells.

    Examples
    --------
    >>> import scotm
    >>> fold = perturbation_split(scotm.datasets.toy(n_cells=60, n_genes=8), "stimulated")
    >>> fold.train.n_obs, fold.real.n_obs
    (30, 30)
    """
    keys = replace(keys, perturbed=None)
    if check:
        keys.check(adata)
    cond = keys.conditions(adata)
    held = [holdout] if isinstance(holdout, str) else [str(h) for h in holdout]
    bad = [h for h in held if h not in set(cond) or h == keys.control]
    if bad or not held:
        raise ScotmInputError(
            f"perturbation '{(bad or [''])[0]}' not found in obs['{keys.condition_key}'] (or it "
            "is the control label); set it with argument holdout"
        )
    out = np.isin(cond, held)
    return Fold(
        holdout=",".join(held),
        train=copy_subset(adata, ~out),
        ctrl=copy_subset(adata, cond == keys.control),
        real=copy_subset(adata, out),
    )


def cell_types(adata: ad.AnnData, keys: Keys) -> list[str]:
    """Cell types in order of size (largest first), as EVALUATION.md lists them.

    Examples
    --------
    >>> import scotm
    >>> cell_types(scotm.datasets.toy(n_cells=7, n_genes=4), Keys())[0]
    'type0'
    """
    return list(adata.obs[keys.cell_type_key].astype(str).value_counts().index)


def foldable_cell_types(adata: ad.AnnData, keys: Keys) -> list[str]:
    """Cell types (largest first) that have both control and perturbed cells: the folds.

    Examples
    --------
    >>> import scotm
    >>> foldable_cell_types(scotm.datasets.toy(n_cells=60, n_genes=4), Keys())
    ['type0', 'type1', 'type2']
    """
    types = keys.cell_types(adata)
    is_ctrl = keys.conditions(adata) == keys.control
    both = set(types[is_ctrl]) & set(types[keys.pert_mask(adata)])
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
            f"'{keys.perturbed}' cells in obs['{keys.condition_key}']; check argument control, "
            "argument perturbed and argument cell_type_key"
        )
    return foldable
