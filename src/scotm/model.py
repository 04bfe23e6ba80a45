"""``SCOTM``: the user-facing model, in the style of scvi-tools.

>>> model = SCOTM(train, condition_key="condition", control="control",
...               perturbed="stimulated", cell_type_key="cell_type")  # doctest: +SKIP
>>> model.train()  # doctest: +SKIP
>>> pred = model.predict(ctrl_of_new_type)  # doctest: +SKIP
>>> model.save("my_model/"); SCOTM.load("my_model/")  # doctest: +SKIP

The method (DESIGN.md): an MMD-regularised autoencoder embeds log-normalised cells; in the
latent space an exact OT plan pairs each training cell type's control cells with its
perturbed cells, giving every training control cell its own shift; a control cell of a
type never seen perturbed borrows the similarity-weighted shifts of its most similar
training control cells; the shifted code is decoded.

Past the paper: a cell embedding (``cell_embedding_key``) enters the encoder through a
learned layer; several perturbations share one model (OT per cell type and perturbation);
with ``perturbation_embeddings`` a response network ``r(z, cell_emb?, e_pert)`` learns to
regress the OT shifts, so a perturbation never seen in training is predicted from its
embedding (and the prediction says it extrapolates).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anndata as ad
import numpy as np
import scipy.sparse as sp
import torch

from . import transport
from ._embeddings import PerturbationEmbeddings, cell_embedding, perturbation_table
from ._errors import ScotmInputError
from ._io import atomic_dir
from .module import ResponseNet, VAEModule
from .pp import check_finite, check_keys

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: several perturbations, prior embeddings, the response network
SETTINGS_FILE = "scotm.json"
WEIGHTS_FILE = "weights.safetensors"
TRANSPORT_FILE = "transport.npz"
RESPONSE_FILE = "response.safetensors"
EMBEDDINGS_FILE = "embeddings.npz"


@dataclass
class Settings:
    """Every setting of the method; one configuration serves all folds and datasets.

    Ablations are one field away: ``prior="kl"``, ``shift="mean"``, ``per_cell=False``,
    ``ot_method="sinkhorn"``, ``couple_within_cell_type=False``.
    """

    n_latent: int = 64
    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.1
    prior: Literal["mmd", "kl"] = "mmd"
    beta: float = 1.0
    shift: Literal["ot", "mean"] = "ot"
    ot_method: Literal["emd", "sinkhorn", "minibatch"] = "emd"
    couple_within_cell_type: bool = True
    per_cell: bool = True
    k: int = 30
    decode: Literal["residual", "full"] = "residual"
    max_epochs: int | None = None
    target_steps: int = 1500
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    val_fraction: float = 0.1
    seed: int = 0
    num_threads: int | None = None
    cell_embedding_proj: int = 16
    response_hidden: tuple[int, ...] = (128, 128)
    response_target_steps: int = 3000

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Settings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ScotmInputError(
                f"unknown setting(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(names))}"
            )
        d = dict(d)
        for key in ("hidden", "response_hidden"):
            if key in d:
                d[key] = tuple(int(h) for h in d[key])
        return cls(**d)


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")


@dataclass
class _Reference:
    """What prediction borrows from training: control codes and their OT shifts."""

    codes: np.ndarray
    shifts: np.ndarray
    cell_types: np.ndarray
    obs_names: np.ndarray


def _resolve_perturbations(
    adata: ad.AnnData, condition_key: str, control: str, perturbed: str | Sequence[str] | None
) -> list[str]:
    """The perturbation labels a model is trained on, each checked to exist."""
    if isinstance(perturbed, str):
        return [perturbed]
    if perturbed is None:
        labels = sorted(set(adata.obs[condition_key].astype(str)) - {control})
        if not labels:
            raise ScotmInputError(
                f"obs['{condition_key}'] has no label other than '{control}'; the model needs "
                "perturbed cells (check --condition-key and --control)"
            )
        return labels
    labels = list(dict.fromkeys(str(p) for p in perturbed))
    if not labels:
        raise ScotmInputError("perturbed is an empty list; name at least one perturbation")
    if control in labels:
        raise ScotmInputError(f"'{control}' is the control label; it cannot also be perturbed")
    return labels


class SCOTM:
    """scOTM: MMD autoencoder + latent optimal transport + per-cell shift transfer.

    Parameters
    ----------
    adata
        Training cells, log-normalised (see :func:`scotm.pp.prepare`): every control cell,
        and the perturbed cells of the cell types observed perturbed.
    condition_key, control
        ``obs`` column holding the condition, and its control label.
    perturbed
        The perturbed label (one perturbation, as published), a list of labels, or ``None``
        for every label other than ``control``. OT is solved per (cell type, perturbation).
    cell_type_key
        ``obs`` column holding cell types; OT couples within each type.
    cell_embedding_key
        ``obsm`` key of a cell-state embedding (e.g. ``"X_genept"``). It enters the encoder
        through a learned projection, in training and at prediction (where the same key
        and width are required).
    perturbation_embeddings
        Name -> vector (a mapping, or a DataFrame indexed by name), covering every training
        perturbation; extra names may be predicted as unseen perturbations. Trains the
        response network that predicts perturbations never seen in training.
    cell_embedding_source, perturbation_embedding_source
        Optional provenance strings saved with the model (e.g. ``"morgan r=2 2048"``).
    **settings
        Any field of :class:`Settings`.

    Examples
    --------
    >>> model = SCOTM(train, perturbed=None, perturbation_embeddings=fingerprints,
    ...               cell_embedding_key="X_genept")  # doctest: +SKIP
    >>> model.train()  # doctest: +SKIP
    >>> seen = model.predict(ctrl, perturbation="drugA")  # doctest: +SKIP
    >>> new = model.predict(ctrl, perturbation="drugZ")  # from its embedding  # doctest: +SKIP
    >>> new.uns["scotm"]["extrapolated"]  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        adata: ad.AnnData,
        condition_key: str = "condition",
        control: str = "control",
        perturbed: str | Sequence[str] | None = "stimulated",
        cell_type_key: str = "cell_type",
        *,
        cell_embedding_key: str | None = None,
        perturbation_embeddings: PerturbationEmbeddings | None = None,
        cell_embedding_source: str | None = None,
        perturbation_embedding_source: str | None = None,
        **settings: Any,
    ) -> None:
        check_keys(adata, condition_key, control, None, cell_type_key)
        perts = _resolve_perturbations(adata, condition_key, control, perturbed)
        for p in perts:
            check_keys(adata, condition_key, control, p, cell_type_key)
        check_finite(adata)
        self.keys = {
            "condition_key": condition_key,
            "control": control,
            "perturbed": perturbed if isinstance(perturbed, str) else list(perts),
            "cell_type_key": cell_type_key,
        }
        self.perturbations = perts
        self.settings = Settings.from_dict(settings)
        self.cell_embedding: dict[str, Any] | None = None
        if cell_embedding_key is not None:
            E = cell_embedding(adata, cell_embedding_key, what="the training data")
            self.cell_embedding = {
                "key": cell_embedding_key,
                "dim": int(E.shape[1]),
                "source": cell_embedding_source,
            }
        self.pert_table: dict[str, np.ndarray] = {}
        self.perturbation_embedding: dict[str, Any] | None = None
        if perturbation_embeddings is not None:
            names, M = perturbation_table(perturbation_embeddings)
            missing = [p for p in perts if p not in set(names)]
            if missing:
                raise ScotmInputError(
                    f"perturbation_embeddings has no vector for {len(missing)} training "
                    f"perturbation(s) (e.g. {', '.join(missing[:3])}); add them to the table"
                )
            self.pert_table = dict(zip(names, M, strict=True))
            self.perturbation_embedding = {
                "dim": int(M.shape[1]),
                "source": perturbation_embedding_source,
            }
        cond = adata.obs[condition_key].astype(str).to_numpy()
        keep = (cond == control) | np.isin(cond, perts)
        self.adata = adata[keep] if not keep.all() else adata
        self._init_state(np.asarray(adata.var_names.astype(str)))

    def _init_state(self, var_names: np.ndarray) -> None:
        self.var_names = var_names
        s = self.settings
        # weights are drawn here, so seed here: the same seed gives identical predictions
        torch.manual_seed(s.seed)
        self.module = VAEModule(
            len(var_names),
            hidden=s.hidden,
            n_latent=s.n_latent,
            prior=s.prior,
            dropout=s.dropout,
            n_cell_emb=self.cell_embedding["dim"] if self.cell_embedding else 0,
            cell_emb_proj=s.cell_embedding_proj,
        )
        self.response: ResponseNet | None = None
        if self.perturbation_embedding is not None:
            torch.manual_seed(s.seed + 1)
            self.response = ResponseNet(
                s.n_latent,
                self.perturbation_embedding["dim"],
                n_cell_emb=self.cell_embedding["dim"] if self.cell_embedding else 0,
                hidden=s.response_hidden,
                dropout=s.dropout,
            )
        self.history: list[dict[str, float]] = []
        self.response_history: list[dict[str, float]] = []
        self.references: dict[str, _Reference] = {}
        self.train_info: dict[str, Any] = {}
        self.is_trained = False

    @property
    def reference(self) -> _Reference | None:
        """The OT reference of the (first) training perturbation; see :attr:`references`."""
        return self.references.get(self.perturbations[0]) if self.references else None

    def __repr__(self) -> str:
        state = "trained" if self.is_trained else "untrained"
        priors = [
            name
            for name, on in (
                ("cell embedding", self.cell_embedding),
                ("perturbation embedding", self.perturbation_embedding),
            )
            if on
        ]
        return (
            f"SCOTM({state}, {len(self.var_names)} genes, latent {self.settings.n_latent}, "
            f"prior={self.settings.prior}, shift={self.settings.shift}, "
            f"{len(self.perturbations)} perturbation(s)"
            + (f", {' + '.join(priors)}" if priors else "")
            + ")"
        )

    # ------------------------------------------------------------------ training
    def _cell_emb(self, adata: ad.AnnData, what: str = "the data") -> np.ndarray | None:
        if self.cell_embedding is None:
            return None
        return cell_embedding(adata, self.cell_embedding["key"], self.cell_embedding["dim"], what)

    def _trainer(self, epochs: int, monitor: str, callbacks: list, progress: bool, **kw):
        import lightning.pytorch as pl
        from lightning.pytorch.callbacks import EarlyStopping

        return pl.Trainer(
            max_epochs=epochs,
            callbacks=[EarlyStopping(monitor, patience=self.settings.patience, mode="min")]
            + callbacks,
            enable_progress_bar=progress,
            enable_model_summary=False,
            enable_checkpointing=False,
            logger=False,
            deterministic=True,
            num_sanity_val_steps=0,
            **kw,
        )

    def _fit(self, trainer, task, data, module: torch.nn.Module) -> None:
        threads = torch.get_num_threads()
        if self.settings.num_threads:
            torch.set_num_threads(self.settings.num_threads)
        elif sum(p.numel() for p in module.parameters()) < 200_000:
            # small networks lose more to thread hand-offs than they gain (20x on a busy
            # 2-core machine)
            torch.set_num_threads(1)
        try:
            trainer.fit(task, datamodule=data)
        finally:
            torch.set_num_threads(threads)

    def train(
        self,
        max_epochs: int | None = None,
        *,
        progress: bool = True,
        accelerator: str = "cpu",
        devices: int | str = 1,
        strategy: str = "auto",
        num_nodes: int = 1,
    ) -> SCOTM:
        """Train the autoencoder with early stopping, then build the OT shift references,
        then (with perturbation embeddings) train the response network on them.

        The validation splits used for early stopping are drawn from the training cells
        (and training perturbations) only. ``max_epochs`` caps both networks' epochs.
        ``accelerator``, ``devices``, ``strategy`` and ``num_nodes`` go to Lightning's
        ``Trainer`` (e.g. ``accelerator="gpu", devices=4, strategy="ddp"``).
        """
        import lightning.pytorch as pl

        from ._lightning import CellDataModule, History, TrainingTask

        if self.adata is None:
            raise ScotmInputError(
                "a loaded model keeps no training cells; build a new SCOTM(adata) to train"
            )
        s = self.settings
        _quiet_lightning()
        pl.seed_everything(s.seed, workers=True, verbose=False)
        n = self.adata.n_obs
        rng = np.random.default_rng(s.seed)
        order = rng.permutation(n)
        n_val = int(round(n * s.val_fraction)) if n >= 20 else 0
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        if n_val == 0:  # too few cells to spare a validation split: validate on training
            val_idx = train_idx
        # The optimiser needs a similar number of steps whatever the data size: small data
        # get smaller batches and more epochs, large data fewer epochs (early stopping decides).
        batch_size = int(min(s.batch_size, max(16, len(train_idx) // 16)))
        steps_per_epoch = max(1, len(train_idx) // batch_size)
        epochs = (
            max_epochs
            or s.max_epochs
            or int(np.clip(-(-s.target_steps // steps_per_epoch), 10, 400))
        )
        data = CellDataModule(
            self.adata.X, train_idx, val_idx, batch_size, s.seed, extra=self._cell_emb(self.adata)
        )
        task = TrainingTask(self.module, s.lr, s.weight_decay, s.beta)
        # a progress bar shows the epochs; without one, each epoch is a log line
        history = History(logging.DEBUG if progress else logging.INFO)
        logger.info(
            "Training SCOTM on %d cells x %d genes: up to %d epochs of %d steps, early "
            "stopping on %d validation cells",
            len(train_idx),
            self.adata.n_vars,
            epochs,
            steps_per_epoch,
            n_val,
        )
        trainer = self._trainer(
            epochs,
            "val_loss",
            [history],
            progress,
            accelerator=accelerator,
            devices=devices,
            strategy=strategy,
            num_nodes=num_nodes,
        )
        t0 = time.perf_counter()
        self._fit(trainer, task, data, self.module)
        self.module.cpu().eval()
        self.history = history.epochs
        self.train_info = {
            "epochs": len(history.epochs),
            "train_seconds": time.perf_counter() - t0,
            "n_train_cells": int(len(train_idx)),
            "n_val_cells": int(n_val),
            "batch_size": batch_size,
            "max_epochs": epochs,
        }
        logger.info(
            "Trained %d epochs in %.1f s (best val_loss %.4f)",
            len(history.epochs),
            self.train_info["train_seconds"],
            min((row.get("val_loss", np.inf) for row in history.epochs), default=np.nan),
        )
        t1 = time.perf_counter()
        how = f"{s.ot_method} OT" if s.shift == "ot" else "mean shift, no OT"
        logger.info("Pairing control with perturbed codes (%s) ...", how)
        self.references = self._build_references()
        self.train_info["transport_seconds"] = time.perf_counter() - t1
        logger.info(
            "Paired (%s): %d training control cells have a shift, in %.1f s",
            how,
            sum(len(ref.codes) for ref in self.references.values()),
            self.train_info["transport_seconds"],
        )
        if self.response is not None:
            self._train_response(max_epochs, progress=progress, accelerator=accelerator)
        self.is_trained = True
        return self

    def _build_references(self) -> dict[str, _Reference]:
        """One OT reference per training perturbation, coupled within each cell type."""
        k = self.keys
        cond = self.adata.obs[k["condition_key"]].astype(str).to_numpy()
        types = self.adata.obs[k["cell_type_key"]].astype(str).to_numpy()
        is_c = cond == k["control"]
        Z = self.get_latent(self.adata)
        zc = Z[is_c]
        s = self.settings
        refs: dict[str, _Reference] = {}
        self._ref_rows: dict[str, np.ndarray] = {}  # rows of each reference among controls
        for pert in self.perturbations:
            is_p = cond == pert
            if not is_p.any():
                raise ScotmInputError(
                    f"no '{pert}' cells in training; the model needs at least one cell "
                    f"type observed perturbed (check --perturbed and --condition-key)"
                )
            zp = Z[is_p]
            if s.shift == "mean":
                mask, shifts = transport.mean_shifts(zc, zp, types[is_c], types[is_p])
            else:
                mask, shifts = transport.ot_shifts(
                    zc,
                    zp,
                    types[is_c],
                    types[is_p],
                    within_groups=s.couple_within_cell_type,
                    method=s.ot_method,
                    seed=s.seed,
                )
            if not mask.any():
                which = "" if len(self.perturbations) == 1 else f" under '{pert}'"
                raise ScotmInputError(
                    f"no training cell type has both control and perturbed cells{which}; "
                    "the model needs at least one to learn a response"
                )
            refs[pert] = _Reference(
                codes=zc[mask].astype(np.float32),
                shifts=shifts.astype(np.float32),
                cell_types=types[is_c][mask].astype(str),
                obs_names=np.asarray(self.adata.obs_names[is_c][mask].astype(str)),
            )
            self._ref_rows[pert] = np.flatnonzero(mask)
        self._ref_codes = zc.astype(np.float32)
        return refs

    def _train_response(self, max_epochs: int | None, *, progress: bool, accelerator: str) -> None:
        """Fit the response network to the OT shifts of every (control cell, perturbation).

        Early stopping watches held-out *training perturbations* when there are at least
        five (the network's job is to generalise to new perturbations), else held-out pairs;
        the weights of the best validation epoch are kept.
        """
        import lightning.pytorch as pl

        from ._lightning import BestWeights, History, PairDataModule, PairDataset, ResponseTask

        s = self.settings
        pl.seed_everything(s.seed, workers=True, verbose=False)
        perts = self.perturbations
        pert_emb = np.vstack([self.pert_table[p] for p in perts])
        cell_idx = np.concatenate([self._ref_rows[p] for p in perts])
        pert_idx = np.concatenate([np.full(len(self._ref_rows[p]), j) for j, p in enumerate(perts)])
        targets = np.vstack([self.references[p].shifts for p in perts])
        cond = self.adata.obs[self.keys["condition_key"]].astype(str).to_numpy()
        ce = self._cell_emb(self.adata)
        ce = None if ce is None else ce[cond == self.keys["control"]]
        rng = np.random.default_rng(s.seed)
        if len(perts) >= 5:
            n_val = max(1, int(round(len(perts) * s.val_fraction)))
            val_perts = rng.choice(len(perts), n_val, replace=False)
            is_val = np.isin(pert_idx, val_perts)
            self.train_info["response_val_perturbations"] = sorted(perts[j] for j in val_perts)
        else:
            is_val = rng.random(len(targets)) < s.val_fraction
        if not is_val.any() or is_val.all():
            is_val = np.zeros(len(targets), dtype=bool)
            is_val[:: max(2, len(targets) // 10 or 2)] = True

        def pairs(sel: np.ndarray) -> PairDataset:
            return PairDataset(
                self._ref_codes, pert_emb, targets[sel], cell_idx[sel], pert_idx[sel], ce
            )

        train_set, val_set = pairs(~is_val), pairs(is_val)
        batch_size = int(min(256, max(16, len(train_set) // 16)))
        steps_per_epoch = max(1, len(train_set) // batch_size)
        epochs = (
            max_epochs
            or s.max_epochs
            or int(np.clip(-(-s.response_target_steps // steps_per_epoch), 3, 400))
        )
        history = History()
        best = BestWeights("response_val_loss")
        trainer = self._trainer(
            epochs,
            "response_val_loss",
            [history, best],
            progress,
            accelerator=accelerator,
            devices=1,
        )
        task = ResponseTask(self.response, s.lr, s.weight_decay)
        t0 = time.perf_counter()
        self._fit(
            trainer, task, PairDataModule(train_set, val_set, batch_size, s.seed), self.response
        )
        self.response.cpu().eval()
        self.response_history = history.epochs
        self.train_info.update(
            {
                "response_epochs": len(history.epochs),
                "response_best_epoch": best.best_epoch,
                "response_seconds": time.perf_counter() - t0,
                "response_train_pairs": int(len(train_set)),
                "response_val_pairs": int(len(val_set)),
            }
        )

    #: settings that act after training: changing them needs no retraining
    POST_TRAINING = ("shift", "ot_method", "couple_within_cell_type", "per_cell", "k", "decode")

    def variant(self, **overrides: Any) -> SCOTM:
        """A copy sharing this trained network, with post-training settings changed.

        Ablations of the transport step (``shift="mean"``, ``per_cell=False``,
        ``ot_method="sinkhorn"``, ...) then cost an OT solve, not a training run. The
        response network (if any) is shared unchanged: it was fitted to the original shifts.
        """
        self._check_trained()
        bad = set(overrides) - set(self.POST_TRAINING)
        if bad:
            raise ScotmInputError(
                f"{', '.join(sorted(bad))} change training; variant() takes only "
                f"{', '.join(self.POST_TRAINING)}"
            )
        other = copy.copy(self)
        other.settings = dataclasses.replace(self.settings, **overrides)
        transport_keys = {"shift", "ot_method", "couple_within_cell_type"}
        if transport_keys & set(overrides):
            if self.adata is None:
                raise ScotmInputError(
                    "a loaded model keeps no training cells; retrain to re-couple"
                )
            other.references = other._build_references()
        return other

    # ---------------------------------------------------------------- prediction
    def _check_trained(self) -> None:
        if not self.is_trained:
            raise ScotmInputError("the model is not trained; call model.train() first")

    def _check_genes(self, adata: ad.AnnData) -> None:
        genes = np.asarray(adata.var_names.astype(str))
        if np.array_equal(genes, self.var_names):
            return
        have = set(genes)
        missing = [g for g in self.var_names if g not in have]
        extra = len(set(genes) - set(self.var_names))
        if missing:
            raise ScotmInputError(
                f"{len(missing)} of the model's {len(self.var_names)} genes are missing from "
                f"the data (e.g. {', '.join(missing[:3])}) and {extra} are extra; "
                "preprocess with the model's genes: adata[:, model.var_names]"
            )
        raise ScotmInputError(
            f"the data has the model's genes in a different order (and {extra} extra); "
            "reorder explicitly with adata[:, model.var_names]"
        )

    @torch.no_grad()
    def get_latent(self, adata: ad.AnnData, batch_size: int = 4096) -> np.ndarray:
        """Latent codes of ``adata``'s cells (the posterior mean for a KL model).

        A model trained with a cell embedding reads it from ``adata.obsm`` (same key, same
        width) and fails clearly without it.
        """
        self._check_genes(adata)
        check_finite(adata)
        ce = self._cell_emb(adata)
        self.module.eval()
        X = adata.X
        out = []
        for i in range(0, adata.n_obs, batch_size):
            x = torch.from_numpy(_dense(X[i : i + batch_size]))
            c = None if ce is None else torch.from_numpy(ce[i : i + batch_size])
            out.append(self.module.encode(x, c)[0].numpy())
        return np.vstack(out).astype(np.float64) if out else np.zeros((0, self.settings.n_latent))

    @torch.no_grad()
    def _decode(self, z: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        out = [
            self.module.decode(torch.from_numpy(z[i : i + batch_size].astype(np.float32))).numpy()
            for i in range(0, len(z), batch_size)
        ]
        return np.vstack(out)

    def _resolve_perturbation(self, perturbation: str | None) -> str:
        if perturbation is not None:
            return str(perturbation)
        if len(self.perturbations) == 1:
            return self.perturbations[0]
        shown = ", ".join(self.perturbations[:5]) + (", ..." if len(self.perturbations) > 5 else "")
        raise ScotmInputError(
            f"the model knows {len(self.perturbations)} perturbations ({shown}); name one with "
            "predict(ctrl, perturbation=NAME) or --perturbation NAME"
        )

    def _perturbation_vector(self, name: str, given: Any | None) -> np.ndarray:
        """The embedding of perturbation ``name``: passed in, or from the setup table."""
        if self.response is None:
            raise ScotmInputError(
                f"perturbation '{name}' was not seen in training (seen: "
                f"{', '.join(self.perturbations[:5])}) and the model has no response network; "
                "train with perturbation_embeddings= (--perturbation-embeddings) to predict "
                "unseen perturbations"
            )
        dim = self.perturbation_embedding["dim"]
        if given is not None:
            try:
                vec = np.asarray(given, dtype=np.float32).ravel()
            except (TypeError, ValueError) as exc:
                raise ScotmInputError(
                    f"perturbation_embedding for '{name}' is not numeric"
                ) from exc
        elif name in self.pert_table:
            vec = self.pert_table[name]
        else:
            raise ScotmInputError(
                f"no embedding for perturbation '{name}', which was not seen in training; pass "
                "perturbation_embedding=VECTOR (CLI: --perturbation-embeddings FILE.csv with a "
                "row for it)"
            )
        if vec.shape != (dim,):
            raise ScotmInputError(
                f"the embedding of '{name}' has width {vec.size} but the model was trained "
                f"with width {dim}; embed it with the same model as the training perturbations"
            )
        if not np.isfinite(vec).all():
            raise ScotmInputError(f"the embedding of '{name}' holds NaN or infinite values")
        return vec

    @torch.no_grad()
    def _response_shift(
        self, z: np.ndarray, vec: np.ndarray, ce: np.ndarray | None, batch_size: int = 8192
    ) -> np.ndarray:
        out = []
        for i in range(0, len(z), batch_size):
            zb = torch.from_numpy(z[i : i + batch_size].astype(np.float32))
            eb = torch.from_numpy(np.broadcast_to(vec, (len(zb), vec.size)).copy())
            cb = None if ce is None else torch.from_numpy(ce[i : i + batch_size])
            out.append(self.response(zb, eb, cb).numpy())
        return np.vstack(out).astype(np.float64)

    def predict(
        self,
        ctrl: ad.AnnData,
        perturbation: str | None = None,
        *,
        perturbation_embedding: Any | None = None,
        source: Literal["auto", "transfer", "response"] = "auto",
    ) -> ad.AnnData:
        """Predict the perturbed state of control cells (of a type never seen perturbed).

        Parameters
        ----------
        ctrl
            Control cells, log-normalised over the model's genes (and, for a model with a
            cell embedding, carrying it in ``obsm``).
        perturbation
            Which perturbation; optional when the model knows only one.
        perturbation_embedding
            The vector of a perturbation never seen in training (else taken from the table
            given at setup).
        source
            ``"auto"``: a perturbation seen in training gets its OT shifts transferred by
            similarity (the faithful method); an unseen one gets the response network's
            shift, and the output says it extrapolates. ``"transfer"`` / ``"response"``
            force one (``"response"`` needs perturbation embeddings).

        Returns
        -------
        AnnData of predicted log-normalised cells, one per input cell, with the input obs.
        ``obsm['X_scotm']`` holds the control codes, ``obsm['X_scotm_shifted']`` the shifted
        codes; ``uns['scotm']`` records provenance, ``perturbation``, ``extrapolated``,
        ``shift_from`` and, in ``shift_sources``, how much of a transferred shift came from
        each training cell type.
        """
        self._check_trained()
        if ctrl.n_obs == 0:
            raise ScotmInputError("no control cells to predict from")
        if source not in ("auto", "transfer", "response"):
            raise ScotmInputError(
                f"source must be 'auto', 'transfer' or 'response', not {source!r}"
            )
        name = self._resolve_perturbation(perturbation)
        seen = name in self.references
        if source == "transfer" and not seen:
            raise ScotmInputError(
                f"perturbation '{name}' was not seen in training; it has no OT shifts to "
                "transfer (use source='auto' or 'response')"
            )
        use_response = source == "response" or not seen
        vec = self._perturbation_vector(name, perturbation_embedding) if use_response else None
        z = self.get_latent(ctrl)
        s = self.settings
        sources: dict[str, float] = {}
        if use_response:
            if not seen:
                logger.warning(
                    "'%s' was not seen in training: its shift comes from the response network "
                    "and its embedding alone (extrapolating)",
                    name,
                )
            shift = self._response_shift(z, vec, self._cell_emb(ctrl))
        else:
            ref = self.references[name]
            shift, idx, w = transport.transfer_shifts(
                z,
                ref.codes.astype(np.float64),
                ref.shifts.astype(np.float64),
                s.k,
                per_cell=s.per_cell,
            )
            types, share = np.unique(ref.cell_types[idx].ravel(), return_inverse=True)
            weights = np.bincount(share, weights=w.ravel(), minlength=len(types)) / len(z)
            sources = {str(t): float(v) for t, v in zip(types, weights, strict=True)}
        z_new = z + shift
        decoded = self._decode(z_new)
        if s.decode == "residual":
            # keep each cell's own detail that the decoder cannot reproduce: add the decoded
            # change to the observed cell instead of replacing the cell by its decoding
            X = np.clip(_dense(ctrl.X) + decoded - self._decode(z), 0.0, None)
        else:
            X = decoded
        pred = ad.AnnData(X=X.astype(np.float32), obs=ctrl.obs.copy(), var=ctrl.var.copy())
        pred.obsm["X_scotm"] = z.astype(np.float32)
        pred.obsm["X_scotm_shifted"] = z_new.astype(np.float32)
        pred.uns["scotm"] = {
            "model_version": _version(),
            "format_version": FORMAT_VERSION,
            "settings": _jsonable(dataclasses.asdict(s)),
            "keys": {k: v for k, v in self.keys.items() if isinstance(v, str)},
            "perturbed": name,
            "perturbation": name,
            "extrapolated": not seen,
            "shift_from": "response" if use_response else "transfer",
            "shift_sources": sources,
        }
        # the priors' provenance (key, width, source), where the model has them; h5ad cannot
        # store None, so unset fields are left out
        for what, info in (
            ("cell_embedding", self.cell_embedding),
            ("perturbation_embedding", self.perturbation_embedding),
        ):
            if info:
                pred.uns["scotm"][what] = {k: v for k, v in info.items() if v is not None}
        return pred

    def shift_neighbours(
        self, ctrl: ad.AnnData, perturbation: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each control cell: indices into the reference, weights, and reference types."""
        self._check_trained()
        name = self._resolve_perturbation(perturbation)
        if name not in self.references:
            raise ScotmInputError(f"perturbation '{name}' was not seen in training")
        ref = self.references[name]
        z = self.get_latent(ctrl)
        idx, w = transport.cosine_topk(z, ref.codes.astype(np.float64), self.settings.k)
        return idx, w, ref.cell_types

    # -------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write everything prediction needs to directory ``path``, atomically.

        Weights (and the response network's) go to safetensors; settings, genes and the
        embeddings' provenance (cell embedding key, width, source) to JSON; the OT
        references and the training perturbations' embedding table to ``.npz`` files of
        plain arrays: loading never unpickles anything.
        """
        from safetensors.torch import save_file

        self._check_trained()
        path = Path(path)
        if path.exists() and not overwrite:
            raise ScotmInputError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
        with atomic_dir(path) as tmp:
            state = {k: v.contiguous() for k, v in self.module.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_FILE))
            refs = [self.references[p] for p in self.perturbations]
            np.savez(
                tmp / TRANSPORT_FILE,
                codes=np.vstack([r.codes for r in refs]),
                shifts=np.vstack([r.shifts for r in refs]),
                cell_types=np.concatenate([r.cell_types for r in refs]).astype("U"),
                obs_names=np.concatenate([r.obs_names for r in refs]).astype("U"),
                perturbation=np.repeat(
                    np.asarray(self.perturbations, dtype="U"), [len(r.codes) for r in refs]
                ),
            )
            if self.response is not None:
                state = {k: v.contiguous() for k, v in self.response.state_dict().items()}
                save_file(state, str(tmp / RESPONSE_FILE))
                np.savez(
                    tmp / EMBEDDINGS_FILE,
                    names=np.asarray(self.perturbations, dtype="U"),
                    vectors=np.vstack([self.pert_table[p] for p in self.perturbations]),
                )
            meta = {
                "format": "scotm",
                "format_version": FORMAT_VERSION,
                "model_version": _version(),
                "settings": _jsonable(dataclasses.asdict(self.settings)),
                "keys": self.keys,
                "perturbations": list(self.perturbations),
                "cell_embedding": self.cell_embedding,
                "perturbation_embedding": self.perturbation_embedding,
                "var_names": [str(g) for g in self.var_names],
                "train_info": self.train_info,
                "history": self.history,
                "response_history": self.response_history,
            }
            (tmp / SETTINGS_FILE).write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> SCOTM:
        """Load a model written by :meth:`save`; a foreign or damaged directory fails clearly."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        meta_file = path / SETTINGS_FILE
        if not meta_file.exists():
            raise ScotmInputError(f"{path} is not a saved scotm model (no {SETTINGS_FILE})")
        try:
            meta = json.loads(meta_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ScotmInputError(f"{meta_file} is corrupt ({exc}); re-save the model") from exc
        if not isinstance(meta, dict) or meta.get("format") != "scotm":
            raise ScotmInputError(f"{path} is not a saved scotm model")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise ScotmInputError(
                f"{path} has model format {version}; this scotm ({_version()}) reads format "
                f"{FORMAT_VERSION}: re-train, or use the scotm version that saved it"
            )
        try:
            model = cls.__new__(cls)
            keys = meta["keys"]
            model.keys = {k: str(keys[k]) for k in ("condition_key", "control", "cell_type_key")}
            pk = keys["perturbed"]
            model.keys["perturbed"] = str(pk) if isinstance(pk, str) else [str(p) for p in pk]
            model.perturbations = [str(p) for p in meta["perturbations"]]
            model.settings = Settings.from_dict(meta["settings"])
            model.adata = None
            ce = meta.get("cell_embedding")
            model.cell_embedding = (
                None
                if ce is None
                else {"key": str(ce["key"]), "dim": int(ce["dim"]), "source": ce.get("source")}
            )
            pe = meta.get("perturbation_embedding")
            model.perturbation_embedding = (
                None if pe is None else {"dim": int(pe["dim"]), "source": pe.get("source")}
            )
            model.pert_table = {}
            model._init_state(np.asarray(meta["var_names"], dtype=str))
            model.module.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
            with np.load(path / TRANSPORT_FILE, allow_pickle=False) as ref:
                which = ref["perturbation"]
                for p in model.perturbations:
                    sel = which == p
                    model.references[p] = _Reference(
                        codes=ref["codes"][sel],
                        shifts=ref["shifts"][sel],
                        cell_types=ref["cell_types"][sel],
                        obs_names=ref["obs_names"][sel],
                    )
            if model.response is not None:
                model.response.load_state_dict(load_file(str(path / RESPONSE_FILE)))
                with np.load(path / EMBEDDINGS_FILE, allow_pickle=False) as emb:
                    model.pert_table = dict(
                        zip(
                            emb["names"].astype(str), emb["vectors"].astype(np.float32), strict=True
                        )
                    )
                model.response.eval()
        except (KeyError, OSError, RuntimeError, ValueError, TypeError, SafetensorError) as exc:
            if isinstance(exc, ScotmInputError):
                raise
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ScotmInputError(
                f"saved model at {path} is damaged or incompatible: {msg}"
            ) from exc
        model.history = meta.get("history", [])
        model.response_history = meta.get("response_history", [])
        model.train_info = meta.get("train_info", {})
        model.module.eval()
        model.is_trained = True
        return model


def _version() -> str:
    from . import __version__

    return __version__


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


class _BenchmarkAdapter:
    """The benchmark's ``fit`` / ``predict`` interface over :class:`SCOTM`."""

    def __init__(self, keys, **settings: Any) -> None:
        self.keys = keys
        self.settings = settings

    def fit(self, train: ad.AnnData) -> _BenchmarkAdapter:
        self.model = SCOTM(train, **self.keys.as_kwargs(), **self.settings)
        # a progress bar in a terminal, unless --quiet; never in logs or CI output
        progress = sys.stderr.isatty() and logging.getLogger("scotm").isEnabledFor(logging.INFO)
        self.model.train(progress=progress)
        return self

    def predict(self, ctrl: ad.AnnData) -> ad.AnnData:
        return self.model.predict(ctrl)


def benchmark_factory(keys, **settings: Any) -> _BenchmarkAdapter:
    """Unfitted SCOTM behind the benchmark interface (``scotm benchmark --methods scotm``)."""
    return _BenchmarkAdapter(keys, **settings)


#: The model with one part removed or swapped, each a benchmark method of its own.
ABLATIONS: dict[str, dict[str, Any]] = {
    "scotm_kl": {"prior": "kl"},  # KL instead of MMD
    "scotm_meanshift": {"shift": "mean"},  # no OT: one mean latent shift per type (scGen-like)
    "scotm_single": {"per_cell": False},  # one shift vector for the whole held-out type
    "scotm_sinkhorn": {"ot_method": "sinkhorn"},  # entropic instead of exact OT
    "scotm_across": {"couple_within_cell_type": False},  # one plan across all cell types
    "scotm_fulldecode": {"decode": "full"},  # decode the shifted code, as published
}

#: The model with a prior embedding added, each a benchmark method of its own. GenePT cell
#: embeddings are a fixed function of each cell's own expression (no fitting), so the
#: benchmark computes them once for all cells before the folds; nothing leaks across cells.
GENEPT_KEY = "X_genept"
PRIOR_METHODS: dict[str, dict[str, Any]] = {
    "scotm_genept": {
        "cell_embedding_key": GENEPT_KEY,
        "cell_embedding_source": "GenePT: all-MiniLM-L6-v2 over MSigDB gene-set descriptions",
    },
}
