"""Backward compatibility: one perturbation, no priors -> the exact predictions of before.

``tests/data/compat_pred.npz`` was written by ``tests/data/make_compat_fixture.py`` on the code
before multi-perturbation and prior support (commit e0da0b4). Same seed, one thread: the
predictions, latent codes and shifted codes must be bit-identical, so the Kang numbers in
BENCHMARKS.md stay valid.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def test_single_perturbation_no_prior_is_bit_identical():
    sys.path.insert(0, str(DATA))
    try:
        import make_compat_fixture
    finally:
        sys.path.remove(str(DATA))
    now = make_compat_fixture.compute()
    with np.load(DATA / "compat_pred.npz") as before:
        assert set(before) == set(now)
        for key in before:
            np.testing.assert_array_equal(now[key], before[key], err_msg=key)
