"""Training that streams from an h5ad on disk (anndata backed mode), and benchmarks/scale.py.

The data are small synthetic counts (tests/_synth.py); nothing here is a biological result.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scotm
from scotm._errors import ScotmInputError
from scotm._matrix import is_backed_sparse, matrix_stats
from scotm.design import holdout_split
from scotm.model import SCOTM
from scotm.train.tasks import RowDataset

from ._synth import RERUN_TOL, synthetic_counts

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[ad.AnnData, Path]:
    """Log-normalised sparse training cells in memory, and the same cells written to h5ad."""
    adata = scotm.pp.prepare(synthetic_counts(n_per=30, n_genes=40, sparse=True), None)
    fold = holdout_split(adata, "C")
    path = tmp_path_factory.mktemp("backed") / "train.h5ad"
    fold.train.write_h5ad(path)
    return fold.train, path, fold.ctrl


def test_backed_matrix_is_detected_and_scanned_like_memory(prepared) -> None:
    train, path, _ = prepared
    backed = ad.read_h5ad(path, backed="r")
    assert is_backed_sparse(backed.X)
    assert not is_backed_sparse(train.X)
    mem, disk = matrix_stats(train.X), matrix_stats(backed.X)
    np.testing.assert_allclose(disk.row_sums, mem.row_sums)
    np.testing.assert_allclose(disk.row_min, mem.row_min)
    assert (disk.n_nonzero, disk.vmax) == (mem.n_nonzero, mem.vmax)


def test_backed_rows_are_read_a_batch_at_a_time(prepared) -> None:
    train, path, _ = prepared
    backed = ad.read_h5ad(path, backed="r")
    idx = np.arange(train.n_obs)
    disk, mem = RowDataset(backed.X, idx), RowDataset(train.X, idx)
    assert is_backed_sparse(disk.X)  # not loaded into memory
    rows = [7, 3, 50, 3, 0]  # unsorted, one repeated
    np.testing.assert_array_equal(disk.collate(rows)["x"].numpy(), mem.collate(rows)["x"])
    assert disk.collate(rows)["x"].dtype == mem.collate(rows)["x"].dtype


def test_backed_csc_is_refused_in_one_line(tmp_path, prepared) -> None:
    train, _, _ = prepared
    csc = train.copy()
    csc.X = sp.csc_matrix(csc.X)
    csc.write_h5ad(tmp_path / "csc.h5ad")
    backed = ad.read_h5ad(tmp_path / "csc.h5ad", backed="r")
    with pytest.raises(ScotmInputError, match="must be CSR"):
        RowDataset(backed.X, np.arange(3))


def test_training_from_a_backed_h5ad_matches_memory(prepared) -> None:
    train, path, ctrl = prepared
    backed = ad.read_h5ad(path, backed="r")
    preds = []
    for data in (train, backed):
        model = SCOTM(data, max_epochs=3, seed=0).train(progress=False)
        preds.append(model.predict(ctrl).X)
    assert is_backed_sparse(backed.X)  # training left the matrix on disk
    np.testing.assert_allclose(preds[1], preds[0], **RERUN_TOL)


def test_prepare_in_blocks_equals_scanpy_on_the_whole_matrix(monkeypatch) -> None:
    import scanpy as sc

    counts = synthetic_counts(n_per=25, n_genes=30, sparse=True, seed=3)
    counts.X[4] = 0  # an empty cell: scanpy warns, and leaves it at zero
    counts.X.eliminate_zeros()
    whole = counts.copy()
    sc.pp.normalize_total(whole, target_sum=1e4)
    sc.pp.log1p(whole)
    monkeypatch.setattr(scotm.pp, "CHUNK_CELLS", 7)  # 150 cells: 22 blocks, a partial last
    with pytest.warns(UserWarning, match="zero counts"):
        blocks = scotm.pp.prepare(counts, None)
    assert blocks.X.dtype == np.float32 and sp.issparse(blocks.X)
    np.testing.assert_array_equal(blocks.X.toarray(), whole.X.toarray())  # bit for bit
    assert counts.X.max() > 20  # the input is untouched


def test_prepare_takes_no_copy_beyond_one_output(monkeypatch) -> None:
    """The float32 cast keeps the normalised matrix (no third copy of X)."""
    counts = synthetic_counts(n_per=10, n_genes=20, sparse=True)
    seen = []
    real = scotm.pp.normalise_log1p

    def spy(adata, *a, **k):
        real(adata, *a, **k)
        seen.append(adata.X.data)

    monkeypatch.setattr(scotm.pp, "normalise_log1p", spy)
    out = scotm.pp.prepare(counts, None)
    assert out.X.data is seen[0]


def test_copy_subset_equals_anndata_copy_with_x_copied_once() -> None:
    from scotm._subset import copy_subset

    adata = synthetic_counts(n_per=10, n_genes=12, sparse=True)
    adata.obsm["X_e"] = np.arange(adata.n_obs * 2, dtype=float).reshape(-1, 2)
    adata.layers["counts"] = adata.X.copy()
    adata.uns["note"] = {"a": 1}
    rows = np.arange(adata.n_obs) % 3 == 0
    cols = np.arange(adata.n_vars) < 5
    for obs, var in ((rows, None), (None, cols), (rows, cols), (None, None)):
        want = adata[
            slice(None) if obs is None else obs, slice(None) if var is None else var
        ].copy()
        got = copy_subset(adata, obs, var)
        assert not got.is_view and got.shape == want.shape
        np.testing.assert_array_equal(got.X.toarray(), want.X.toarray())
        np.testing.assert_array_equal(got.obsm["X_e"], want.obsm["X_e"])
        np.testing.assert_array_equal(
            got.layers["counts"].toarray(), want.layers["counts"].toarray()
        )
        assert got.obs.equals(want.obs) and got.var.equals(want.var) and got.uns == want.uns
        assert not np.shares_memory(got.X.data, adata.X.data)  # a copy, not a view
    dense = ad.AnnData(np.ones((4, 3), dtype=np.float32))
    got = copy_subset(dense, np.array([True, False, True, True]))
    got.X[0, 0] = 5.0
    assert dense.X[0, 0] == 1.0 and got.shape == (3, 3)


def _scale_module():
    spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "benchmarks/scale.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scale_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_scale_model_runs_every_phase_and_writes_json(tmp_path) -> None:
    scale = _scale_module()
    out = tmp_path / "m.json"
    res = scale.run_model(800, 20, out, tmp_path / "data")
    saved = json.loads(out.read_text())
    assert saved["completed"] and res["completed"]
    assert list(saved["phases"]) == [
        "read",
        "prepare",
        "split",
        "setup",
        "train",
        "predict",
        "write",
    ]
    assert all(p["seconds"] >= 0 and p["peak_rss_gb"] > 0 for p in saved["phases"].values())
    assert saved["predicted_cells"] > 0 and "SYNTHETIC" in saved["data"]
    assert saved["train_parts_sampled"]["ot"]["seconds"] > 0
    assert "gpu" not in saved  # CPU run
    assert not list(tmp_path.glob("*.pred.h5ad"))  # the written prediction is removed


def test_scale_sizes_stop_at_the_time_budget(tmp_path) -> None:
    scale = _scale_module()
    out = tmp_path / "s.json"
    res = scale.run_sizes([600, 700], 10, out, tmp_path / "data", budget=1.5)
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(res))
    first = saved["sizes"][0]
    assert first["cells"] == 600 and not first.get("completed")  # stopped by the budget
    assert first["returncode"] != 0
    assert saved["skipped"] == [700] and saved["elapsed_seconds"] < 30
