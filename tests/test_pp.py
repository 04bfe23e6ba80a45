"""Preprocessing and the input checks every entry point shares."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scanpy as sc
import scipy.sparse as sp

from scotm import ScotmInputError
from scotm.pp import check_finite, check_keys, is_lognormalised, prepare

from ._synth import synthetic_counts


def _lognorm(adata):
    a = adata.copy()
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    return a


@pytest.mark.parametrize("sparse", [False, True])
def test_detects_raw_vs_lognormalised(sparse):
    raw = synthetic_counts(sparse=sparse)
    assert not is_lognormalised(raw)
    assert is_lognormalised(_lognorm(raw))


@pytest.mark.parametrize("sparse", [False, True])
def test_negative_values_are_refused(sparse):
    a = _lognorm(synthetic_counts())
    a.X = a.X - 1.0
    if sparse:
        a.X = sp.csr_matrix(a.X)
    with pytest.raises(ScotmInputError, match="negative values"):
        is_lognormalised(a)
    with pytest.raises(ScotmInputError, match="negative values"):
        prepare(a)


def test_prepare_raw_counts():
    raw = synthetic_counts(n_genes=60)
    out = prepare(raw, n_top_genes=20)
    assert out.shape == (raw.n_obs, 20)
    assert sp.issparse(out.X) and out.X.dtype == np.float32
    assert out.uns["scotm_pp"] == {
        "lognormalised_input": False,
        "n_top_genes": 20,
        "hvg_flavor": "seurat",
        "n_genes_before": 60,
    }
    expect = _lognorm(raw)[:, out.var_names].X
    np.testing.assert_allclose(out.X.toarray(), np.asarray(expect), rtol=1e-5)
    assert raw.X.max() > 20  # the input is untouched


def test_prepare_lognormalised_skips_normalisation(caplog):
    log = _lognorm(synthetic_counts())
    with caplog.at_level(logging.INFO, logger="scotm"):
        out = prepare(log, n_top_genes=None)
    assert "already log-normalised" in caplog.text
    assert out.uns["scotm_pp"]["lognormalised_input"] is True
    np.testing.assert_allclose(out.X.toarray(), np.asarray(log.X), rtol=1e-6)


def test_prepare_keeps_all_genes_when_fewer_than_requested():
    raw = synthetic_counts(n_genes=30)
    assert prepare(raw, n_top_genes=2000).n_vars == 30


@pytest.mark.parametrize("sparse", [False, True])
def test_check_finite_counts_cells(sparse):
    a = synthetic_counts(sparse=False)
    a.X[3, 1] = np.nan
    a.X[3, 2] = np.inf
    a.X[7, 0] = np.nan
    if sparse:
        a.X = sp.csr_matrix(a.X)
    with pytest.raises(ScotmInputError, match=f"in 2 of {a.n_obs} cells"):
        check_finite(a)
    check_finite(synthetic_counts(sparse=sparse))


def test_check_keys_names_the_argument(counts):
    check_keys(counts)
    with pytest.raises(ScotmInputError, match="obs key 'cond' not found.*argument condition_key"):
        check_keys(counts, condition_key="cond")
    with pytest.raises(ScotmInputError, match="obs key 'ct' not found.*argument cell_type_key"):
        check_keys(counts, cell_type_key="ct")
    with pytest.raises(
        ScotmInputError, match="values are: control, stimulated.*argument perturbed"
    ):
        check_keys(counts, perturbed="stim")
    with pytest.raises(ScotmInputError, match="label 'ctrl'.*argument control"):
        check_keys(counts, control="ctrl")
