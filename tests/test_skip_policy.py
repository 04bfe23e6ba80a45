"""CI's skip policy (tests/conftest.py): with CI=true, a skip not listed in EXPECTED_SKIPS fails.

Each test runs pytest on a tiny test file whose conftest uses our hooks, and checks what
pytest reported: an unexpected skip is a failure carrying its reason, a listed skip stays a
skip, xfail is untouched, and without CI every skip is a skip.
"""

from __future__ import annotations

import pytest

from . import conftest

TINY = """
import pytest

def test_passes():
    assert True

def test_skips_unexpectedly():
    pytest.skip("the frobnicator is missing")

def test_skips_as_expected():
    pytest.skip("needs a GPU")

@pytest.mark.skipif(True, reason="marked to skip")
def test_marked_skip():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_listed_as_a_whole(n):
    pytest.skip(f"case {n}")

@pytest.mark.xfail(reason="known bug")
def test_xfails():
    assert False
"""


@pytest.fixture
def tiny(pytester, monkeypatch):
    # the hooks under test, imported from this suite's conftest
    pytester.makeconftest(
        "from tests.conftest import pytest_make_collect_report, pytest_runtest_makereport\n"
    )
    pytester.makepyfile(test_tiny=TINY)
    monkeypatch.setitem(conftest.EXPECTED_SKIPS, "test_tiny.py::test_skips_as_expected", "no GPU")
    monkeypatch.setitem(conftest.EXPECTED_SKIPS, "test_tiny.py::test_listed_as_a_whole", "demo")
    return pytester


def test_unexpected_skips_fail_in_ci(tiny, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = tiny.runpytest("-rfEs")
    # the call-time skip fails; the skipif mark (decided at setup) errors; both fail the run
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=3, xfailed=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "*FAILED test_tiny.py::test_skips_unexpectedly*",
            "*ERROR test_tiny.py::test_marked_skip*",
        ]
    )
    out = result.stdout.str()
    assert "not in tests/conftest.py's EXPECTED_SKIPS: the frobnicator is missing" in out
    assert "EXPECTED_SKIPS: marked to skip" in out
    assert "needs a GPU" in out  # the expected skip is still listed, with its reason (-rs)


def test_without_ci_a_skip_is_a_skip(tiny, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = tiny.runpytest("-rfEs")
    result.assert_outcomes(passed=1, skipped=5, xfailed=1)
    assert result.ret == 0


def test_a_module_level_skip_fails_in_ci(pytester, monkeypatch):
    pytester.makeconftest("from tests.conftest import pytest_make_collect_report\n")
    pytester.makepyfile(
        test_mod="import pytest\npytest.importorskip('no_such_module_xyz')\n\ndef test_a(): pass\n"
    )
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert "no_such_module_xyz" in result.stdout.str()
    monkeypatch.setenv("CI", "false")
    pytester.runpytest().assert_outcomes(skipped=1)
