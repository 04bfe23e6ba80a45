"""``SCOTM``: the user-facing model, in the style of scvi-tools.

The method (DESIGN.md): an MMD-regularised autoencoder embeds log-normalised cells; in the
latent space an exact OT plan pairs each training cell type's control cells with its
perturbed cells, giving every training control cell its own shift; a control cell of a
type never seen perturbed borrows the shifts of its most similar training control cells,
weighted by similarity (divided by each one's cell-type size, by default); the shifted code
is decoded.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import anndata as ad
import numpy as np
import torch

from .. import transport, validate
from .._embeddings import PerturbationEmbeddings, cell_embedding
from .._errors import ScotmInputError
from ..design import Keys, check_genes
from ..module import get_network
from . import blend as _blend
from . import cell_prior, conditional, members, persist
from . import predict as _p
from .config import OWNER, POST_TRAINING, Settings, parse
from .reference import Reference, References, build_references
from .state import ModelState


class SCOTM:
    """scOTM: MMD autoencoder + latent optimal transport + per-cell shift transfer.

    Parameters
    ----------
    adata
        Training cells, log-normalised (see :func:`scotm.pp.prepare`): every control cell,
        and the perturbed cells of the cell types observed perturbed.
    condition_key, control, perturbed, cell_type_key
        The experiment design (:class:`scotm.design.Keys`): ``perturbed`` is one label (as
        published), a list, or ``None`` for every label other than ``control``. OT is solved
        per (cell type, perturbation).
    cell_embedding_key
        ``obsm`` key of a cell-state embedding (e.g. ``"X_genept"``) fed to the encoder.
    perturbation_embeddings
        Name -> vector (mapping or name-indexed DataFrame) for every training perturbation;
        trains the response network that predicts unseen perturbations.
    cell_embedding_source, perturbation_embedding_source
        Optional provenance strings saved with the model.
    state
        Instead of data: a saved :class:`~scotm.model.state.ModelState` (how :meth:`load`
        rebuilds a model).
    **settings
        Any setting of :class:`~scotm.model.config.Settings`, checked here, before training.

    Examples
    --------
    >>> model = SCOTM(train, perturbed=None, perturbation_embeddings=fingerprints,
    ...               cell_embedding_key="X_genept")  # doctest: +SKIP
    >>> model.train()  # doctest: +SKIP
    >>> new = model.predict(ctrl, perturbation="drugZ")  # from its embedding  # doctest: +SKIP
    >>> new.uns["scotm"]["extrapolated"]  # doctest: +SKIP
    True
    """

    POST_TRAINING = POST_TRAINING

    def __init__(
        self,
        adata: ad.AnnData | None = None,
        condition_key: str = "condition",
        control: str = "control",
        perturbed: str | Sequence[str] | None = "stimulated",
        cell_type_key: str = "cell_type",
        *,
        cell_embedding_key: str | None = None,
        perturbation_embeddings: PerturbationEmbeddings | None = None,
        cell_embedding_source: str | None = None,
        perturbation_embedding_source: str | None = None,
        state: ModelState | None = None,
        **settings: Any,
    ) -> None:
        if state is None:
            if adata is None:
                raise ScotmInputError("SCOTM needs training cells (adata) or a saved state")
            keys = Keys(condition_key, control, perturbed, cell_type_key)
            priors = (cell_embedding_key, perturbation_embeddings)
            sources = (cell_embedding_source, perturbation_embedding_source)
            state = ModelState.from_data(adata, keys, Settings(**settings), *priors, *sources)
            adata = state.training_cells(adata)
        self.state, self.adata = state, adata
        self.design, self.keys = state.keys, state.keys.as_kwargs()
        self.perturbations, self.settings = state.perturbations, state.settings
        self.var_names, self.pert_table = state.var_names, state.pert_table
        self.cell_embedding = state.cell_embedding
        self.perturbation_embedding = state.perturbation_embedding
        s = self.settings
        n_cell = self.cell_embedding["dim"] if self.cell_embedding else 0
        # weights are drawn here, so seed here: the same seed gives identical predictions
        torch.manual_seed(s.seed)
        self.module = conditional.build_network(s, len(self.var_names), n_cell, self.perturbations)
        self.response = None
        if self.perturbation_embedding is not None:
            torch.manual_seed(s.seed + 1)
            n_pert = self.perturbation_embedding["dim"]
            net = get_network("response", "response")
            self.response = net.from_config(s.n_latent, n_pert, s.module, n_cell)
        self.history: list[dict[str, float]] = []
        self.response_history: list[dict[str, float]] = []
        self.references: dict[str, Reference] = {}
        self.train_info: dict[str, Any] = {}
        #: members 1 .. ``members - 1`` (:mod:`scotm.model.members`); this model is member 0
        self.siblings: list[SCOTM] = []
        self.is_trained = False

    @property
    def reference(self) -> Reference | None:
        """The OT reference of the (first) training perturbation; see :attr:`references`."""
        return self.references.get(self.perturbations[0]) if self.references else None

    def __repr__(self) -> str:
        return self.state.describe(self.is_trained, 1 + len(self.siblings))

    # ------------------------------------------------------------------ training
    def cell_embedding_of(self, adata: ad.AnnData, what: str = "the data") -> np.ndarray | None:
        """The cells' prior: the built-in GenePT one, or read from ``adata.obsm``, or ``None``."""
        if self.cell_embedding is None:
            return None
        if self.state.gene_prior is not None:
            return cell_prior.cells(adata, self.state.gene_prior)
        return cell_embedding(adata, self.cell_embedding["key"], self.cell_embedding["dim"], what)

    def train(
        self,
        max_epochs: int | None = None,
        *,
        progress: bool = True,
        accelerator: str = "cpu",
        devices: int | str = 1,
        strategy: str = "auto",
        num_nodes: int = 1,
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        ckpt_path: str | os.PathLike | None = None,
    ) -> SCOTM:
        """Train the autoencoder, build the OT references, then train the response network.

        ``max_epochs`` caps both networks' epochs. ``accelerator``, ``devices``, ``strategy``
        and ``num_nodes`` go to both Lightning ``Trainer``\\ s (e.g. ``accelerator="gpu",
        devices=4, strategy="ddp"``); the OT references are solved on global rank zero only
        and broadcast to the other processes.

        ``checkpoint_dir`` turns on checkpoints (``last.ckpt`` every epoch for each network;
        see :mod:`scotm.train.checkpoint`); ``resume=True`` continues an interrupted run
        from them (optimiser, epoch counter and early stopping included). ``ckpt_path``, a
        checkpoint directory or a ``last.ckpt`` in it, means the same as that directory with
        ``resume=True``. The directory is left in place: remove it once the model is saved.
        Without ``checkpoint_dir`` training is exactly as without checkpoints.

        Examples
        --------
        >>> SCOTM(train, max_epochs=3).train(progress=False)  # doctest: +SKIP
        """
        from ..train import Checkpoints, Runner, train_model

        if self.adata is None:
            raise ScotmInputError(
                "a loaded model keeps no training cells; build a new SCOTM(adata) to train"
            )
        max_epochs = parse("max_epochs", max_epochs, int | None, "positive")
        device = {"accelerator": accelerator, "devices": devices}
        device.update(strategy=strategy, num_nodes=num_nodes)
        s = self.settings
        if ckpt_path is not None:
            path = Path(ckpt_path).expanduser()
            checkpoint_dir, resume = (path.parent.parent if path.is_file() else path), True
        self.siblings = members.build_siblings(self)
        for m, net in enumerate([self, *self.siblings]):
            # each member checkpoints apart: member m > 0 in the subdirectory "member<m>"
            where = checkpoint_dir
            if m and checkpoint_dir is not None:
                where = Path(checkpoint_dir) / f"member{m}"
            saves = Checkpoints(where, resume)
            train_model(net, max_epochs, Runner(s.patience, s.num_threads, progress, device, saves))
        for net in [self, *self.siblings]:  # only once every member is trained
            net.is_trained = True
        return self

    def build_references(self, extra: np.ndarray | None = None) -> References:
        """One OT reference per training perturbation, from the training cells' codes.

        ``extra``: the training cells' prior, where the caller has it already (else made here).
        """
        s = self.settings
        if extra is None:
            extra = self.cell_embedding_of(self.adata)
        Z = self._latent(self.adata, extra)  # the training data: checked at setup
        return build_references(Z, self.adata, self.design, self.perturbations, s.transport, s.seed)

    def trained(self, refs: dict[str, Reference], history: list, response_history: list) -> None:
        """Mark the model trained with these references and training records."""
        self.references, self.history, self.response_history = refs, history, response_history
        self.module.eval()
        if self.response is not None:
            self.response.eval()
        self.is_trained = True

    def variant(self, **overrides: Any) -> SCOTM:
        """A copy sharing this trained network, with post-training settings changed.

        Ablations of the transport step (``shift="mean"``, ``per_cell=False``,
        ``ot_method="sinkhorn"``, ...) then cost an OT solve, not a training run. The
        response network (if any) is shared unchanged: it was fitted to the original shifts.

        Examples
        --------
        >>> model.variant(k=5).settings.k  # doctest: +SKIP
        5
        """
        self._check_trained()
        bad = set(overrides) - set(POST_TRAINING)
        if bad:
            raise ScotmInputError(
                f"{', '.join(sorted(bad))} change training; variant() takes only "
                f"{', '.join(POST_TRAINING)}"
            )
        other = copy.copy(self)
        other.settings = self.settings.replace(**overrides)
        other.siblings = [sib.variant(**overrides) for sib in self.siblings]
        if {n for n in overrides if OWNER[n] == "transport"}:
            if self.adata is None:
                raise ScotmInputError(
                    "a loaded model keeps no training cells; retrain to re-couple"
                )
            other.references = other.build_references().refs
        return other

    # ---------------------------------------------------------------- prediction
    def _check_trained(self) -> None:
        if not self.is_trained:
            raise ScotmInputError("the model is not trained; call model.train() first")

    def get_latent(self, adata: ad.AnnData, batch_size: int = 4096) -> np.ndarray:
        """Latent codes of ``adata``'s cells (the posterior mean for a KL model).

        A model trained with a cell embedding reads it from ``adata.obsm`` (same key, same
        width) and fails clearly without it.

        Examples
        --------
        >>> model.get_latent(ctrl).shape  # doctest: +SKIP
        (500, 64)
        """
        self._check_input(adata)
        return self._latent(adata, self.cell_embedding_of(adata), batch_size)

    def _check_input(self, adata: ad.AnnData) -> None:
        validate.require_log(adata, "the control cells")
        check_genes(adata, self.var_names, "the control cells")

    def _latent(
        self, adata: ad.AnnData, extra: np.ndarray | None, batch_size: int = 4096
    ) -> np.ndarray:
        # ``extra``: the cells' prior (cell_embedding_of), made once by the caller, who may
        # need it again (the response network): at atlas size it is a large array
        out = _p.encode(self.module, adata.X, extra, batch_size)
        return np.vstack(out).astype(np.float64) if out else np.zeros((0, self.settings.n_latent))

    def predict(
        self,
        ctrl: ad.AnnData,
        perturbation: str | None = None,
        *,
        perturbation_embedding: Any | None = None,
        source: Literal["auto", "transfer", "additive", "response", "ridge"] = "auto",
    ) -> ad.AnnData:
        """Predict the perturbed state of control cells (of a type never seen perturbed).

        ``perturbation`` is optional when the model knows one. ``source`` says where the
        latent shift comes from (:data:`scotm.model.predict.SOURCES`); ``"auto"``: OT shifts
        transferred from similar cells for a perturbation seen in training, the sum of the parts'
        for a combination ``"A+B"`` of perturbations seen alone, and for any other (which
        the output marks as extrapolated) a ridge regression from its embedding
        (``perturbation_embedding`` or the setup table); ``"response"`` asks the response
        network. The ``decode`` setting turns the shifted code into expression.

        Returns AnnData of predicted log-normalised cells with the input obs;
        ``obsm['X_scotm']`` / ``obsm['X_scotm_shifted']`` hold the control / shifted codes,
        ``uns['scotm']`` the provenance, ``extrapolated``, ``shift_from`` and, in
        ``shift_sources``, each training cell type's share of a transferred shift.

        Examples
        --------
        >>> pred = model.predict(fold.ctrl)  # doctest: +SKIP
        """
        self._check_trained()
        name = _p.resolve_perturbation(self.perturbations, perturbation)
        self._check_input(ctrl)
        how = (name, source, perturbation_embedding)
        X, z, z_new, shift_from, sources = self._predict_arrays(ctrl, *how)
        # the other members predict their share of the cells; member 0 has predicted every
        # cell, as its codes fill obsm (at most one prediction more than needed)
        X = members.mix(self, ctrl, X, lambda sib, rows: sib._predict_arrays(rows, *how)[0])
        # zeros first: the blend keeps the model's zeros, as inner validation scored them
        X = _p.zero_below(X, self.settings.zero_below)
        X = _blend.apply(self, ctrl, name, shift_from, X)
        pred = ad.AnnData(X=X.astype(np.float32), obs=ctrl.obs.copy(), var=ctrl.var.copy())
        pred.obsm["X_scotm"] = z.astype(np.float32)
        pred.obsm["X_scotm_shifted"] = z_new.astype(np.float32)
        pred.uns["scotm"] = _p.provenance(self, name, name in self.references, shift_from, sources)
        return pred

    def _predict_arrays(
        self, ctrl: ad.AnnData, name: str, source: str, perturbation_embedding: Any | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, dict]:
        """This network's prediction of ``ctrl`` before the blend: expression, codes, shifted
        codes, and where the shift came from (name, and each training type's share)."""
        extra = self.cell_embedding_of(ctrl)  # once: the response network may read it too
        z = self._latent(ctrl, extra)
        shift, shift_from, sources = _p.latent_shift(
            self, ctrl, z, name, source, perturbation_embedding, extra
        )
        X, z_new = conditional.predict_expression(self, ctrl.X, z, shift, name)
        return X, z, z_new, shift_from, sources

    def shift_neighbours(
        self, ctrl: ad.AnnData, perturbation: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each control cell: indices into the reference, weights, and reference types.

        Examples
        --------
        >>> idx, w, types = model.shift_neighbours(fold.ctrl)  # doctest: +SKIP
        """
        self._check_trained()
        name = _p.resolve_perturbation(self.perturbations, perturbation)
        if name not in self.references:
            raise ScotmInputError(f"perturbation '{name}' was not seen in training")
        ref = self.references[name]
        z = self.get_latent(ctrl)
        idx, w = transport.cosine_topk(z, ref.codes.astype(np.float64), self.settings.k)
        return idx, w, ref.cell_types

    # -------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write everything prediction needs to directory ``path``, atomically.

        Weights go to safetensors; the model's state (settings, keys, genes, the priors'
        provenance, the network classes) to JSON; the OT references and the training
        perturbations' embedding table to ``.npz`` files of plain arrays. Under distributed
        training only global rank zero writes.

        Examples
        --------
        >>> model.save("my_model/")  # doctest: +SKIP
        """
        from ..train import is_rank_zero

        self._check_trained()
        if is_rank_zero():
            persist.save(self, path, overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SCOTM:
        """Load a model written by :meth:`save`, rebuilt through the constructor from its state.

        Examples
        --------
        >>> model = SCOTM.load("my_model/")  # doctest: +SKIP
        """
        return persist.load(cls, path)
