"""A model's state: everything that defines a SCOTM besides its trained numbers.

Training builds it from data (:meth:`ModelState.from_data`, every check done once); loading
builds it from the saved ``scotm.json`` (:meth:`ModelState.from_json`). Either way
:class:`scotm.model.SCOTM` is constructed from it through the one constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np

from .. import validate
from .._embeddings import PerturbationEmbeddings, cell_embedding, perturbation_table
from .._errors import ScotmInputError
from ..design import Keys
from . import cell_prior
from .config import Settings

#: What a saved model that lacks a setting meant by it (the value before the setting existed).
LEGACY_SETTINGS = {
    "shift_scale": 1.0,
    "cell_prior": "none",
    "output_activation": "relu",
    "zero_below": 0.0,
    "blend": "none",
    "neighbour_weights": "similarity",
    "members": 1,
}


@dataclass
class ModelState:
    """Keys, perturbations, settings, genes and the priors' provenance (and table)."""

    keys: Keys
    perturbations: list[str]
    settings: Settings
    var_names: np.ndarray
    cell_embedding: dict[str, Any] | None = None
    perturbation_embedding: dict[str, Any] | None = None
    pert_table: dict[str, np.ndarray] = field(default_factory=dict)
    #: the built-in cell prior's gene vectors (genes x d), when it is on
    gene_prior: np.ndarray | None = None

    @classmethod
    def from_data(
        cls,
        adata: ad.AnnData,
        keys: Keys,
        settings: Settings,
        cell_embedding_key: str | None = None,
        perturbation_embeddings: PerturbationEmbeddings | None = None,
        cell_embedding_source: str | None = None,
        perturbation_embedding_source: str | None = None,
    ) -> ModelState:
        """The state of a model about to be trained on ``adata`` (checked once, here)."""
        perts = keys.check(adata)
        validate.require_log(adata, "the training data")
        if not isinstance(keys.perturbed, str):
            keys = Keys(keys.condition_key, keys.control, tuple(perts), keys.cell_type_key)
        state = cls(keys, perts, settings, np.asarray(adata.var_names.astype(str)))
        if cell_embedding_key is not None:
            if settings.cell_prior == "genept":
                raise ScotmInputError(
                    "cell_prior='genept' and a cell_embedding_key both give the encoder a "
                    "cell embedding; set one of them"
                )
            E = cell_embedding(adata, cell_embedding_key, what="the training data")
            state.cell_embedding = {
                "key": cell_embedding_key,
                "dim": int(E.shape[1]),
                "source": cell_embedding_source,
            }
        else:
            G = cell_prior.resolve(state.var_names, settings.cell_prior)
            if G is not None:
                state.gene_prior = G
                state.cell_embedding = {
                    "key": None,
                    "kind": "genept",
                    "dim": int(G.shape[1]),
                    "source": cell_prior.SOURCE,
                }
        if perturbation_embeddings is not None:
            names, M = perturbation_table(perturbation_embeddings)
            missing = [p for p in perts if p not in set(names)]
            if missing:
                raise ScotmInputError(
                    f"perturbation_embeddings has no vector for {len(missing)} training "
                    f"perturbation(s) (e.g. {', '.join(missing[:3])}); add them to the table"
                )
            state.pert_table = dict(zip(names, M, strict=True))
            state.perturbation_embedding = {
                "dim": int(M.shape[1]),
                "source": perturbation_embedding_source,
            }
        return state

    def describe(self, trained: bool, networks: int = 1) -> str:
        """One line: trained or not, genes, latent size, prior, shift, perturbations, priors."""
        s = self.settings
        priors = [
            name
            for name, on in (
                (
                    "GenePT cell prior" if self.gene_prior is not None else "cell embedding",
                    self.cell_embedding,
                ),
                ("perturbation embedding", self.perturbation_embedding),
            )
            if on
        ]
        return (
            f"SCOTM({'trained' if trained else 'untrained'}, {len(self.var_names)} genes, "
            f"latent {s.n_latent}, prior={s.prior}, shift={s.shift}, "
            f"{len(self.perturbations)} perturbation(s)"
            + (f", {networks} networks" if networks > 1 else "")
            + (f", {' + '.join(priors)}" if priors else "")
            + ")"
        )

    def training_cells(self, adata: ad.AnnData) -> ad.AnnData:
        """``adata``'s control cells and the cells of the state's perturbations."""
        cond = self.keys.conditions(adata)
        keep = (cond == self.keys.control) | np.isin(cond, self.perturbations)
        return adata[keep] if not keep.all() else adata

    def to_json(self) -> dict[str, Any]:
        """The state as the JSON ``scotm.json`` holds (without the embedding table)."""
        return {
            "settings": self.settings.as_dict(),
            "keys": self.keys.as_kwargs(),
            "perturbations": list(self.perturbations),
            "cell_embedding": self.cell_embedding,
            "perturbation_embedding": self.perturbation_embedding,
            "var_names": [str(g) for g in self.var_names],
        }

    @classmethod
    def from_json(
        cls,
        meta: dict[str, Any],
        pert_table: dict | None = None,
        gene_prior: np.ndarray | None = None,
    ) -> ModelState:
        """The state :meth:`to_json` wrote (format 2), with its tables read beside it."""
        k = meta["keys"]
        pk = k["perturbed"]
        keys = Keys(
            str(k["condition_key"]),
            str(k["control"]),
            str(pk) if isinstance(pk, str) else tuple(str(p) for p in pk),
            str(k["cell_type_key"]),
        )
        ce, pe = meta.get("cell_embedding"), meta.get("perturbation_embedding")
        # a file written before a setting existed meant that setting's value at the time
        settings = {**LEGACY_SETTINGS, **meta["settings"]}
        settings.setdefault("network", meta.get("networks", {}).get("module", "vae"))
        return cls(
            keys,
            [str(p) for p in meta["perturbations"]],
            Settings.from_dict(settings),
            np.asarray(meta["var_names"], dtype=str),
            None if ce is None else _cell_meta(ce),
            None if pe is None else {"dim": int(pe["dim"]), "source": pe.get("source")},
            dict(pert_table or {}),
            gene_prior,
        )


def _cell_meta(ce: dict[str, Any]) -> dict[str, Any]:
    """The saved cell-embedding record: an obsm key, or the built-in prior (no key)."""
    out = {"key": None if ce["key"] is None else str(ce["key"]), "dim": int(ce["dim"])}
    if ce.get("kind"):
        out["kind"] = str(ce["kind"])
    out["source"] = ce.get("source")
    return out
