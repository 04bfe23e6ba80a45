"""The experiment design: keys, labels, checks and the registered splits."""

from __future__ import annotations

import numpy as np
import pytest

import scotm
from scotm import ScotmInputError
from scotm.design import (
    SPLITS,
    Fold,
    Keys,
    check_genes,
    labels,
    perturbation_split,
    register_split,
    split,
)


@pytest.fixture
def drugs():
    """Toy data whose stimulated cells are split into two drugs."""
    a = scotm.datasets.toy(n_cells=120, n_genes=10)
    cond = labels(a, "condition").copy()
    stim = np.flatnonzero(cond == "stimulated")
    cond[stim[::2]], cond[stim[1::2]] = "drugA", "drugB"
    a.obs["condition"] = cond
    return a


def test_keys_resolve_and_check_perturbations(drugs):
    assert Keys(perturbed=None).check(drugs) == ["drugA", "drugB"]
    assert Keys(perturbed=["drugB"]).as_kwargs()["perturbed"] == ["drugB"]
    with pytest.raises(ScotmInputError, match="label 'drugZ' not found.*argument perturbed"):
        Keys(perturbed=["drugA", "drugZ"]).check(drugs)
    with pytest.raises(ScotmInputError, match="control label"):
        Keys(perturbed=["control"]).check(drugs)


def test_cell_type_split_with_several_perturbations(drugs):
    fold = split(drugs, "type1", Keys(perturbed=None))
    types = labels(fold.train, "cell_type")
    held = labels(fold.train, "condition")[types == "type1"]
    assert set(held) == {"control"}  # every perturbation of the held-out type is out
    assert set(labels(fold.real, "condition")) == {"drugA", "drugB"}
    assert fold.train.n_obs + fold.real.n_obs == drugs.n_obs


def test_perturbation_split_holds_one_or_several_out(drugs):
    fold = perturbation_split(drugs, "drugA")
    assert "drugA" not in set(labels(fold.train, "condition"))
    assert set(labels(fold.real, "condition")) == {"drugA"}
    assert fold.ctrl.n_obs == int((labels(drugs, "condition") == "control").sum())
    both = split(drugs, ["drugA", "drugB"], kind="perturbation")
    assert set(labels(both.train, "condition")) == {"control"} and both.holdout == "drugA,drugB"
    with pytest.raises(ScotmInputError, match="perturbation 'drugZ' not found"):
        perturbation_split(drugs, "drugZ")


def test_a_new_split_kind_is_one_registered_function(drugs):
    @register_split("everything")
    def _everything(adata, holdout, keys, check=True):
        return Fold(holdout, adata, adata, adata)

    try:
        assert split(drugs, "x", kind="everything").train.n_obs == drugs.n_obs
    finally:
        del SPLITS["everything"]
    with pytest.raises(ScotmInputError, match="unknown split kind 'everything'"):
        split(drugs, "x", kind="everything")


def test_one_gene_order_check(drugs):
    genes = list(drugs.var_names)
    check_genes(drugs, genes)
    with pytest.raises(ScotmInputError, match="different order"):
        check_genes(drugs, genes[::-1])
    with pytest.raises(ScotmInputError, match="1 of the model's 11 genes are missing"):
        check_genes(drugs, [*genes, "geneX"])
