"""scotm.validate: the counts-vs-log rule on real Kang variants, full scans, gene matching."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
import scipy.sparse as sp

from scotm import _matrix, pp, validate
from scotm._errors import ScotmInputError

from ._synth import synthetic_counts


def _with(adata: ad.AnnData, X) -> ad.AnnData:
    out = ad.AnnData(X=X, obs=adata.obs.copy())
    out.var_names = adata.var_names.copy()
    return out


def _map_data(X: sp.csr_matrix, fn) -> sp.csr_matrix:
    X = X.copy()
    X.data = fn(X.data)
    X.eliminate_zeros()
    return X


@pytest.fixture(scope="module")
def kang_variants():
    """Kang counts and the forms users hand over: log, CPM, rounded logs, HVG subsets."""
    from scotm import datasets

    counts = datasets.kang()
    X = counts.X.tocsr().astype(np.float64)
    lib = np.asarray(X.sum(1)).ravel()
    norm = sp.diags(1e4 / lib) @ X
    cpm = sp.diags(1e6 / lib) @ X
    log = _map_data(norm, np.log1p)
    hvg = sc.pp.highly_variable_genes(_with(counts, log), n_top_genes=2000, inplace=False)
    keep = hvg["highly_variable"].to_numpy()
    return {
        "counts": X,
        "counts_hvg": X[:, keep],
        "log1p": log,
        "log1p_hvg": log[:, keep],
        "log2": _map_data(norm, lambda d: np.log2(d + 1)),
        "log1p_cpm": _map_data(cpm, np.log1p),
        "norm_1e4": norm,
        "cpm": cpm,
        "fractions": sp.diags(1 / lib) @ X,
        "log_rounded": _map_data(log, np.round),
        "log_truncated": _map_data(log, np.floor),
        "log_hvg_rounded": _map_data(log[:, keep], np.round),
        "log_cpm_rounded": _map_data(_map_data(cpm, np.log1p), np.round),
        "_adata": counts,
    }


KANG_EXPECTED = {
    "counts": "counts",
    "counts_hvg": "counts",
    "log1p": "log",
    "log1p_hvg": "log",
    "log2": "log",
    "log1p_cpm": "log",
    "norm_1e4": "not log-transformed",
    "cpm": "not log-transformed",
    "fractions": "not log-transformed",
    "log_rounded": "stored as integers",
    "log_truncated": "stored as integers",
    "log_hvg_rounded": "stored as integers",
    "log_cpm_rounded": "stored as integers",
}


@pytest.mark.kang
@pytest.mark.parametrize("name", list(KANG_EXPECTED))
@pytest.mark.parametrize("layout", ["csr", "csc", "dense"])
def test_kang_scale_detection(kang_variants, name, layout):
    X = kang_variants[name]
    rows = np.random.default_rng(0).choice(X.shape[0], 1500, replace=False)
    if layout == "dense":  # a random 1,500-cell subset keeps the dense copy small
        X = X[np.sort(rows)].toarray().astype(np.float32)
    elif layout == "csc":
        X = X.tocsc()
    obs = kang_variants["_adata"].obs
    adata = ad.AnnData(X=X, obs=obs.iloc[np.sort(rows)] if layout == "dense" else obs)
    expected = KANG_EXPECTED[name]
    if expected in ("counts", "log"):
        assert validate.detect_scale(adata) == expected
    else:
        with pytest.raises(ScotmInputError, match=expected) as info:
            validate.detect_scale(adata)
        assert "\n" not in str(info.value)


@pytest.mark.kang
def test_kang_detection_agrees_with_prepare(kang_variants):
    """prepare() uses the same rule: log input is not normalised again."""
    from scotm import pp

    base = kang_variants["_adata"]
    sub = _with(base, kang_variants["log1p"])[:800].copy()
    out = pp.prepare(sub, n_top_genes=200)
    assert out.uns["scotm_pp"]["lognormalised_input"] is True
    counts = _with(base, kang_variants["counts"])[:800].copy()
    assert pp.prepare(counts, n_top_genes=200).uns["scotm_pp"]["lognormalised_input"] is False


@pytest.mark.parametrize("n_genes", [3, 5, 10, 60, 200])
def test_small_synthetic_counts_are_counts(n_genes):
    assert validate.detect_scale(synthetic_counts(n_genes=n_genes)) == "counts"


@pytest.mark.parametrize(
    ("shape", "scale", "n_genes"),
    [(0.3, 1.0, 500), (1.0, 0.3, 500), (1.0, 1.0, 100), (0.1, 3.0, 100), (1.0, 1.0, 500)],
)
@pytest.mark.parametrize("n_cells", [10, 30, 100, 400])
def test_shallow_counts_stay_counts(shape, scale, n_genes, n_cells):
    """Shallow counts (max <= 20), whose per-cell expm1 totals can be as steady as those of
    rounded logs, are still counts: they are full of 1s."""
    rng = np.random.default_rng(n_cells)
    lib = rng.lognormal(0, 0.4, (n_cells, 1))  # cells differ in depth, as real ones do
    X = rng.poisson(lib * rng.gamma(shape, scale, n_genes)).astype(np.float32)
    X = np.minimum(X, 20)
    assert validate.detect_scale(ad.AnnData(X)) == "counts"


def test_input_scale_overrides_detection(counts):
    log = counts.copy()
    sc.pp.normalize_total(log, target_sum=1e4)
    sc.pp.log1p(log)
    log.X = np.round(log.X)
    with pytest.raises(ScotmInputError, match="input_scale='counts'"):
        pp.prepare(log, n_top_genes=None)
    out = pp.prepare(log, n_top_genes=None, input_scale="log")
    assert out.uns["scotm_pp"]["lognormalised_input"] is True
    np.testing.assert_allclose(out.X.toarray(), log.X)
    with pytest.raises(ScotmInputError, match="input_scale='bogus'"):
        pp.prepare(log, input_scale="bogus")


@pytest.mark.parametrize("sparse", [False, True])
def test_two_negatives_among_480k_values_are_found(sparse):
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(1200, 400)).astype(np.float32)
    X[17, 3] = -1
    X[1100, 399] = -2
    adata = ad.AnnData(sp.csr_matrix(X) if sparse else X)
    with pytest.raises(ScotmInputError, match=r"negative values \(2 of them\)"):
        validate.check_matrix(adata)


@pytest.mark.parametrize("sparse", [False, True])
def test_block_scan_equals_one_pass(monkeypatch, sparse):
    """Scanning in tiny blocks finds the same counts as scanning everything at once."""
    rng = np.random.default_rng(2)
    X = rng.poisson(0.5, size=(50, 30)).astype(np.float64)
    X[3, 4] = np.nan
    X[40, 1] = np.inf
    X[41, 2] = -1
    X = sp.csr_matrix(X) if sparse else X
    whole = validate.matrix_stats(X)
    monkeypatch.setattr(_matrix, "_BLOCK", 7)
    small = validate.matrix_stats(X)
    assert (whole.nonfinite_cells, whole.n_negative) == (small.nonfinite_cells, 1) == (2, 1)
    assert whole.n_nonzero == small.n_nonzero
    np.testing.assert_allclose(whole.row_sums, small.row_sums)
    np.testing.assert_allclose(whole.row_expm1, small.row_expm1)


def test_check_genes_positions_and_missing():
    a = ad.AnnData(np.ones((2, 4), dtype=np.float32))
    a.var_names = ["a", "b", "c", "d"]
    assert validate.check_genes(a, ["d", "a"]).tolist() == [3, 0]
    with pytest.raises(ScotmInputError, match=r"lacks 2 of the model's 3 genes \(e\.g\. x, y\)"):
        validate.check_genes(a, ["a", "x", "y"])


def test_validate_returns_scale(counts):
    assert validate.validate(counts, perturbed="stimulated") == "counts"
    log = counts.copy()
    sc.pp.normalize_total(log, target_sum=1e4)
    sc.pp.log1p(log)
    assert validate.validate(log) == "log"


def test_read_h5ad_roundtrip(tmp_path, counts):
    counts.write_h5ad(tmp_path / "a.h5ad")
    back = validate.read_h5ad(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(back.X, counts.X)


def test_read_h5ad_hang_becomes_one_line(tmp_path, counts, monkeypatch):
    """A probe that never finishes (as HDF5 does on some corrupted files) is cut off."""
    from scotm import _h5read

    counts.write_h5ad(tmp_path / "a.h5ad")
    monkeypatch.setattr(_h5read, "_PROBE", "import time; time.sleep(60)")
    with pytest.raises(ScotmInputError, match="did not finish in 1 s") as info:
        validate.read_h5ad(tmp_path / "a.h5ad", timeout=1)
    assert "\n" not in str(info.value)


def test_read_h5ad_without_probe_reads_in_process(tmp_path, counts, monkeypatch):
    from scotm import _h5read

    counts.write_h5ad(tmp_path / "a.h5ad")
    monkeypatch.setattr(_h5read, "_PROBE", "import sys; sys.exit(3)")  # a probe would fail
    back = validate.read_h5ad(tmp_path / "a.h5ad", probe=False)
    np.testing.assert_array_equal(back.X, counts.X)
    with pytest.raises(ScotmInputError, match=r"cannot read --data .* \(exit 3\)"):
        validate.read_h5ad(tmp_path / "a.h5ad")
