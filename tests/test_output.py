"""The decoder's output activation (``output_activation``) and ``zero_below``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scotm
from scotm.model import SCOTM

from ._synth import synthetic_counts

SMALL = {"hidden": (16,), "n_latent": 4, "seed": 0, "num_threads": 1}


@pytest.fixture(scope="module")
def data():
    return scotm.pp.prepare(synthetic_counts(n_per=20, n_genes=40), n_top_genes=None)


def _ctrl(data):
    return data[(data.obs["condition"] == "control").to_numpy()].copy()


def test_softplus_with_zero_below_is_the_default_relu_outputs_exact_zeros(data):
    default = SCOTM(data, **SMALL)
    assert default.settings.output_activation == "softplus" and default.settings.zero_below == 0.1
    model = SCOTM(data, **SMALL, output_activation="relu")
    assert model.module.output == "relu"
    torch.manual_seed(0)
    out = model.module.decode(torch.randn(200, 4) * 5)
    assert (out == 0).any() and (out >= 0).all()


def test_softplus_outputs_no_exact_zero(data):
    model = SCOTM(data, **SMALL, output_activation="softplus")
    assert model.module.output == "softplus"
    torch.manual_seed(0)
    z = torch.randn(200, 4) * 5
    out = model.module.decode(z)
    assert (out > 0).all()
    model.module.output = "relu"  # the same weights under ReLU give exact zeros
    relu = model.module.decode(z)
    assert (relu == 0).any()


def test_zero_below_clears_small_values_after_training(data, tmp_path):
    model = SCOTM(data, **SMALL, output_activation="softplus", zero_below=0.0)
    model.train(max_epochs=3, progress=False)
    ctrl = _ctrl(data)
    raw = model.predict(ctrl).X
    small = (raw > 0) & (raw < 0.1)
    assert small.any()  # softplus leaves tiny positive values
    snapped = model.variant(zero_below=0.1).predict(ctrl).X  # no retraining
    assert not ((snapped > 0) & (snapped < 0.1)).any()
    np.testing.assert_array_equal(snapped[~small], raw[~small])
    assert (snapped[small] == 0).all()
    # the activation and the threshold are saved with the model
    tuned = model.variant(zero_below=0.1)
    tuned.save(tmp_path / "m")
    again = SCOTM.load(tmp_path / "m")
    assert again.settings.output_activation == "softplus" and again.module.output == "softplus"
    np.testing.assert_array_equal(again.predict(ctrl).X, snapped)
