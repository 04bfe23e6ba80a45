"""Networks are registered by name: a new autoencoder is a new class, chosen by a setting."""

from __future__ import annotations

import json

import pytest

import scotm
from scotm import ScotmInputError
from scotm.model import SCOTM
from scotm.module import NETWORKS, VAEModule, get_network, register_network


@pytest.fixture
def wide_vae():
    @register_network("wide_vae")
    class WideVAE(VAEModule):
        """The same autoencoder with twice the hidden widths."""

        @classmethod
        def from_config(cls, n_genes, config, n_cell_emb=0):
            return cls(
                n_genes, hidden=tuple(2 * h for h in config.hidden), n_latent=config.n_latent
            )

    yield WideVAE
    del NETWORKS["wide_vae"]


def test_scotm_builds_the_configured_network_and_saves_its_name(wide_vae, tmp_path):
    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=60, n_genes=10), n_top_genes=None)
    model = SCOTM(adata, network="wide_vae", hidden=(8,), n_latent=2, max_epochs=1)
    assert isinstance(model.module, wide_vae) and model.module.encoder[0].out_features == 16
    model.train(progress=False)
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "scotm.json").read_text())
    assert meta["networks"] == {"module": "wide_vae"}
    loaded = SCOTM.load(tmp_path / "m")
    assert type(loaded.module) is wide_vae


def test_unknown_or_wrong_kind_of_network_is_refused():
    assert get_network("vae") is VAEModule
    with pytest.raises(ScotmInputError, match="setting network must be one of 'vae'"):
        get_network("response")  # a response network is not an autoencoder
