"""Settings are typed and range-checked before any training: one line per problem, naming the
setting and its valid values, through the API and through ``scotm train --set``."""

from __future__ import annotations

import pytest

import scotm
from scotm import ScotmInputError
from scotm.cli import main
from scotm.model import SCOTM, Settings

from .test_cli import assert_one_line_error

# (setting, bad value as given to the API, its one-line message)
BAD = [
    ("n_latent", "abc", "setting n_latent must be an integer, got 'abc'"),
    ("batch_size", 0, "setting batch_size must be greater than 0, got 0"),
    ("val_fraction", 1.0, "setting val_fraction must be in [0, 1), got 1.0"),
    ("lr", -1, "setting lr must be greater than 0, got -1"),
    ("dropout", 2, "setting dropout must be in [0, 1), got 2"),
    ("seed", 1.5, "setting seed must be an integer, got 1.5"),
    (
        "ot_method",
        "bogus",
        "setting ot_method must be one of 'emd', 'sinkhorn', 'minibatch', 'auto', got 'bogus'",
    ),
    ("max_exact", 0, "setting max_exact must be greater than 0, got 0"),
    ("decode", "bogus", "setting decode must be one of 'residual', 'full', got 'bogus'"),
    ("k", 0, "setting k must be greater than 0, got 0"),
    ("max_epochs", 0, "setting max_epochs must be greater than 0, got 0"),
    ("max_epochs", -1, "setting max_epochs must be greater than 0, got -1"),
    ("hidden", 0, "setting hidden must be integers greater than 0, got 0"),
    ("per_cell", "maybe", "setting per_cell must be true or false, got 'maybe'"),
    ("network", "bogus", "setting network must be one of 'vae', 'cvae', got 'bogus'"),
    (
        "cond_mmd_on",
        "both",
        "setting cond_mmd_on must be one of 'latent', 'decoder', got 'both'",
    ),
    ("shift_scale", -1, "setting shift_scale must be 0 or more, got -1"),
    ("ema_decay", 1, "setting ema_decay must be in (0, 1) (or none), got 1"),
    (
        "output_activation",
        "tanh",
        "setting output_activation must be one of 'relu', 'softplus', got 'tanh'",
    ),
    ("zero_below", -0.1, "setting zero_below must be 0 or more, got -0.1"),
]
IDS = [f"{k}={v}" for k, v, _ in BAD]


@pytest.fixture(scope="module")
def toy():
    return scotm.pp.prepare(scotm.datasets.toy(n_cells=60, n_genes=10), n_top_genes=None)


@pytest.mark.parametrize(("key", "value", "message"), BAD, ids=IDS)
def test_bad_setting_is_refused_in_one_line_by_the_api(toy, key, value, message):
    with pytest.raises(ScotmInputError) as info:
        SCOTM(toy, **{key: value})  # refused at construction, before any training
    assert str(info.value) == message


@pytest.mark.parametrize(("key", "value", "message"), BAD, ids=IDS)
def test_bad_setting_is_refused_in_one_line_by_scotm_train(
    capsys, write, tmp_path, key, value, message
):
    path = write(scotm.datasets.toy(n_cells=60, n_genes=10))
    out = tmp_path / "model"
    # from the command line every value is text: the message quotes the text given
    expected = message.rsplit(", got ", 1)[0] + f", got {str(value)!r}"
    line = assert_one_line_error(
        capsys, ["train", "--data", path, "--set", f"{key}={value}", "--out", str(out)], expected
    )
    assert line == f"scotm: error: {expected}"
    assert not out.exists()  # nothing was trained or saved


def test_max_epochs_of_train_is_checked_before_training(toy, capsys, write, tmp_path):
    model = SCOTM(toy)
    with pytest.raises(ScotmInputError, match="setting max_epochs must be greater than 0"):
        model.train(max_epochs=0)
    assert not model.history  # nothing ran
    path = write(scotm.datasets.toy(n_cells=60, n_genes=10))
    argv = ["train", "--data", path, "--max-epochs", "0", "--out", str(tmp_path / "m")]
    assert_one_line_error(capsys, argv, "--max-epochs must be 1 or more, got 0")


def test_text_values_are_parsed_by_type():
    s = Settings.from_dict(
        {"n_latent": "32", "hidden": "64,32", "per_cell": "false", "max_epochs": "none"}
    )
    assert (s.n_latent, s.hidden, s.per_cell, s.max_epochs) == (32, (64, 32), False, None)
    assert Settings(hidden="[16, 8]").hidden == (16, 8)
    assert Settings(lr="0.01").lr == 0.01


def test_one_hidden_width_is_one_layer(toy):
    # decision: hidden=5 means one hidden layer of width 5, as (5,)
    assert Settings(hidden=5).hidden == (5,)
    model = SCOTM(toy, hidden=5, n_latent=2)
    assert model.module.encoder[0].out_features == 5 and model.settings.hidden == (5,)


def test_unknown_setting_lists_the_valid_ones():
    with pytest.raises(ScotmInputError, match="unknown setting.*n_latnet.*valid: .*n_latent"):
        Settings(n_latnet=3)


def test_settings_are_split_into_four_configs():
    s = Settings(n_latent=8, lr=0.01, ot_method="sinkhorn", k=5)
    assert (s.module.n_latent, s.train.lr, s.transport.ot_method, s.predict.k) == (
        8,
        0.01,
        "sinkhorn",
        5,
    )
    assert set(SCOTM.POST_TRAINING) == {
        "shift",
        "ot_method",
        "max_exact",
        "couple_within_cell_type",
        "per_cell",
        "k",
        "neighbour_weights",
        "decode",
        "shift_scale",
        "blend",
        "blend_weight",
        "blend_validation",
        "small_data_cells",
        "zero_below",
    }
    assert s.replace(k=7).k == 7 and s.k == 5
    with pytest.raises(ScotmInputError, match="setting k"):
        s.replace(k=-2)


def test_cli_gives_library_errors_as_flags(capsys, write, tmp_path):
    path = write(scotm.datasets.toy(n_cells=60, n_genes=10))
    argv = ["train", "--data", path, "--control", "ctrl", "--out", str(tmp_path / "m")]
    line = assert_one_line_error(capsys, argv, "label 'ctrl' not found", "set it with --control")
    assert "argument" not in line
    assert main(["-q", "train", "--data", path, "--set", "n_latent=abc"]) == 2


def test_ot_method_defaults_to_auto_and_max_exact_reaches_the_solver(caplog):
    import logging

    import anndata as ad
    import numpy as np
    import pandas as pd

    from scotm.design import Keys
    from scotm.model.config import TransportConfig
    from scotm.model.reference import build_references
    from scotm.transport import MAX_EXACT

    s = Settings()
    assert (s.ot_method, s.max_exact) == ("auto", MAX_EXACT)
    assert MAX_EXACT >= 2215 * 2147  # the largest Kang cell type stays exact
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"condition": ["control"] * 40 + ["stimulated"] * 40, "cell_type": "A"})
    cells = ad.AnnData(obs=obs.set_axis([f"c{i}" for i in range(80)]))
    Z = rng.normal(size=(80, 3))
    for max_exact, solver in [(1600, "exact EMD"), (1599, "mini-batch OT")]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="scotm.transport"):
            config = TransportConfig(max_exact=max_exact)
            build_references(Z, cells, Keys(), ["stimulated"], config, 0)
        assert solver in caplog.text and f"max_exact={max_exact}" in caplog.text
