"""Shared fixtures: small synthetic data sets, in memory and as .h5ad files."""

from __future__ import annotations

import anndata as ad
import pytest

from ._synth import synthetic_counts


def pytest_configure(config):
    # the Kang source file predates anndata's encoding metadata; reading it once is expected
    config.addinivalue_line("filterwarnings", "ignore:.*without encoding metadata")


@pytest.fixture
def counts() -> ad.AnnData:
    return synthetic_counts()


@pytest.fixture
def write(tmp_path):
    """Write an AnnData to ``tmp_path/name`` and return the path as a string."""

    def _write(adata: ad.AnnData, name: str = "data.h5ad") -> str:
        path = tmp_path / name
        adata.write_h5ad(path)
        return str(path)

    return _write
