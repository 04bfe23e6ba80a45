"""Models saved in format 2 by the code before the redesign (issue 10) still load and predict.

``tests/data/saved_v2/`` was written by ``tests/data/make_saved_models.py`` at commit bfe8099:
one plain model and one with a cell embedding, two perturbations and the response network.
Loading rebuilds each through today's constructor path; its predictions must match the stored
ones within float32 rounding (the same tolerance as ``test_compat.py``: about 20 rounding
steps at the values involved), for every perturbation the model serves, an unseen one
included.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from scotm.model import SCOTM

DATA = Path(__file__).parent / "data"
ATOL = 1e-5
RTOL = 1e-6


@pytest.fixture(scope="module")
def generator():
    sys.path.insert(0, str(DATA))
    try:
        import make_saved_models
    finally:
        sys.path.remove(str(DATA))
    return make_saved_models


@pytest.mark.parametrize("name", ["plain", "priors"])
def test_format_2_model_loads_and_predicts_the_same(generator, name):
    _, ctrl = generator.data()
    model = SCOTM.load(DATA / "saved_v2" / name)
    assert model.is_trained and (model.response is not None) == (name == "priors")
    now = generator.predictions(model, ctrl)
    with np.load(DATA / "saved_v2" / f"{name}_pred.npz") as before:
        assert set(before) == set(now)
        for key in before:
            np.testing.assert_allclose(now[key], before[key], rtol=RTOL, atol=ATOL, err_msg=key)
