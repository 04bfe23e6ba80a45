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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anndata as ad
import numpy as np
import scipy.sparse as sp
import torch

from . import transport
from ._errors import ScotmInputError
from ._io import atomic_dir
from .module import VAEModule
from .pp import check_finite, check_keys

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SETTINGS_FILE = "scotm.json"
WEIGHTS_FILE = "weights.safetensors"
TRANSPORT_FILE = "transport.npz"


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Settings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ScotmInputError(
                f"unknown setting(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(names))}"
            )
        d = dict(d)
        if "hidden" in d:
            d["hidden"] = tuple(int(h) for h in d["hidden"])
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


class SCOTM:
    """scOTM: MMD autoencoder + latent optimal transport + per-cell shift transfer.

    Parameters
    ----------
    adata
        Training cells, log-normalised (see :func:`scotm.pp.prepare`): every control cell,
        and the perturbed cells of the cell types observed perturbed.
    condition_key, control, perturbed
        ``obs`` column holding the condition, and its control / perturbed labels.
    cell_type_key
        ``obs`` column holding cell types; OT couples within each type.
    **settings
        Any field of :class:`Settings`.
    """

    def __init__(
        self,
        adata: ad.AnnData,
        condition_key: str = "condition",
        control: str = "control",
        perturbed: str = "stimulated",
        cell_type_key: str = "cell_type",
        **settings: Any,
    ) -> None:
        check_keys(adata, condition_key, control, perturbed, cell_type_key)
        check_finite(adata)
        self.keys = {
            "condition_key": condition_key,
            "control": control,
            "perturbed": perturbed,
            "cell_type_key": cell_type_key,
        }
        self.settings = Settings.from_dict(settings)
        cond = adata.obs[condition_key].astype(str).to_numpy()
        keep = (cond == control) | (cond == perturbed)
        self.adata = adata[keep] if not keep.all() else adata
        self._init_state(np.asarray(adata.var_names.astype(str)))

    def _init_state(self, var_names: np.ndarray) -> None:
        self.var_names = var_names
        # weights are drawn here, so seed here: the same seed gives identical predictions
        torch.manual_seed(self.settings.seed)
        self.module = VAEModule(
            len(var_names),
            hidden=self.settings.hidden,
            n_latent=self.settings.n_latent,
            prior=self.settings.prior,
            dropout=self.settings.dropout,
        )
        self.history: list[dict[str, float]] = []
        self.reference: _Reference | None = None
        self.train_info: dict[str, Any] = {}
        self.is_trained = False

    def __repr__(self) -> str:
        state = "trained" if self.is_trained else "untrained"
        return (
            f"SCOTM({state}, {len(self.var_names)} genes, latent {self.settings.n_latent}, "
            f"prior={self.settings.prior}, shift={self.settings.shift})"
        )

    # ------------------------------------------------------------------ training
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
        """Train the autoencoder with early stopping, then build the OT shift reference.

        The validation split used for early stopping is drawn from the training cells only.
        ``accelerator``, ``devices``, ``strategy`` and ``num_nodes`` go to Lightning's
        ``Trainer`` (e.g. ``accelerator="gpu", devices=4, strategy="ddp"``).
        """
        import lightning.pytorch as pl
        from lightning.pytorch.callbacks import EarlyStopping

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
        data = CellDataModule(self.adata.X, train_idx, val_idx, batch_size, s.seed)
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
        trainer = pl.Trainer(
            max_epochs=epochs,
            accelerator=accelerator,
            devices=devices,
            strategy=strategy,
            num_nodes=num_nodes,
            callbacks=[EarlyStopping("val_loss", patience=s.patience, mode="min"), history],
            enable_progress_bar=progress,
            enable_model_summary=False,
            enable_checkpointing=False,
            logger=False,
            deterministic=True,
            num_sanity_val_steps=0,
        )
        t0 = time.perf_counter()
        threads = torch.get_num_threads()
        if s.num_threads:
            torch.set_num_threads(s.num_threads)
        elif sum(p.numel() for p in self.module.parameters()) < 200_000:
            # small networks lose more to thread hand-offs than they gain (20x on a busy
            # 2-core machine)
            torch.set_num_threads(1)
        try:
            trainer.fit(task, datamodule=data)
        finally:
            torch.set_num_threads(threads)
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
        self.reference = self._build_reference()
        self.train_info["transport_seconds"] = time.perf_counter() - t1
        logger.info(
            "Paired (%s): %d training control cells have a shift, in %.1f s",
            how,
            len(self.reference.codes),
            self.train_info["transport_seconds"],
        )
        self.is_trained = True
        return self

    def _build_reference(self) -> _Reference:
        k = self.keys
        cond = self.adata.obs[k["condition_key"]].astype(str).to_numpy()
        types = self.adata.obs[k["cell_type_key"]].astype(str).to_numpy()
        is_c, is_p = cond == k["control"], cond == k["perturbed"]
        if not is_p.any():
            raise ScotmInputError(
                f"no '{k['perturbed']}' cells in training; the model needs at least one cell "
                f"type observed perturbed (check --perturbed and --condition-key)"
            )
        Z = self.get_latent(self.adata)
        zc, zp = Z[is_c], Z[is_p]
        s = self.settings
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
            raise ScotmInputError(
                "no training cell type has both control and perturbed cells; "
                "the model needs at least one to learn a response"
            )
        return _Reference(
            codes=zc[mask].astype(np.float32),
            shifts=shifts.astype(np.float32),
            cell_types=types[is_c][mask].astype(str),
            obs_names=np.asarray(self.adata.obs_names[is_c][mask].astype(str)),
        )

    #: settings that act after training: changing them needs no retraining
    POST_TRAINING = ("shift", "ot_method", "couple_within_cell_type", "per_cell", "k", "decode")

    def variant(self, **overrides: Any) -> SCOTM:
        """A copy sharing this trained network, with post-training settings changed.

        Ablations of the transport step (``shift="mean"``, ``per_cell=False``,
        ``ot_method="sinkhorn"``, ...) then cost an OT solve, not a training run.
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
            other.reference = other._build_reference()
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
        """Latent codes of ``adata``'s cells (the posterior mean for a KL model)."""
        self._check_genes(adata)
        check_finite(adata)
        self.module.eval()
        X = adata.X
        out = []
        for i in range(0, adata.n_obs, batch_size):
            x = torch.from_numpy(_dense(X[i : i + batch_size]))
            out.append(self.module.encode(x)[0].numpy())
        return np.vstack(out).astype(np.float64) if out else np.zeros((0, self.settings.n_latent))

    @torch.no_grad()
    def _decode(self, z: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        out = [
            self.module.decode(torch.from_numpy(z[i : i + batch_size].astype(np.float32))).numpy()
            for i in range(0, len(z), batch_size)
        ]
        return np.vstack(out)

    def predict(self, ctrl: ad.AnnData) -> ad.AnnData:
        """Predict the perturbed state of control cells (of a type never seen perturbed).

        Returns
        -------
        AnnData of predicted log-normalised cells, one per input cell, with the input obs.
        ``obsm['X_scotm']`` holds the control codes, ``obsm['X_scotm_shifted']`` the shifted
        codes; ``uns['scotm']`` records provenance and, in ``shift_sources``, how much of the
        predicted shift came from each training cell type.
        """
        self._check_trained()
        if ctrl.n_obs == 0:
            raise ScotmInputError("no control cells to predict from")
        z = self.get_latent(ctrl)
        ref = self.reference
        s = self.settings
        shift, idx, w = transport.transfer_shifts(
            z, ref.codes.astype(np.float64), ref.shifts.astype(np.float64), s.k, per_cell=s.per_cell
        )
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
        types, share = np.unique(ref.cell_types[idx].ravel(), return_inverse=True)
        weights = np.bincount(share, weights=w.ravel(), minlength=len(types)) / len(z)
        pred.uns["scotm"] = {
            "model_version": _version(),
            "format_version": FORMAT_VERSION,
            "settings": _jsonable(dataclasses.asdict(s)),
            "keys": dict(self.keys),
            "perturbed": self.keys["perturbed"],
            "shift_sources": {str(t): float(v) for t, v in zip(types, weights, strict=True)},
        }
        return pred

    def shift_neighbours(self, ctrl: ad.AnnData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each control cell: indices into the reference, weights, and reference types."""
        self._check_trained()
        z = self.get_latent(ctrl)
        idx, w = transport.cosine_topk(z, self.reference.codes.astype(np.float64), self.settings.k)
        return idx, w, self.reference.cell_types

    # -------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write everything prediction needs to directory ``path``, atomically.

        Weights go to safetensors, settings and genes to JSON, the OT reference to an
        ``.npz`` of plain arrays: loading never unpickles anything.
        """
        from safetensors.torch import save_file

        self._check_trained()
        path = Path(path)
        if path.exists() and not overwrite:
            raise ScotmInputError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
        with atomic_dir(path) as tmp:
            state = {k: v.contiguous() for k, v in self.module.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_FILE))
            ref = self.reference
            np.savez(
                tmp / TRANSPORT_FILE,
                codes=ref.codes,
                shifts=ref.shifts,
                cell_types=ref.cell_types.astype("U"),
                obs_names=ref.obs_names.astype("U"),
            )
            meta = {
                "format": "scotm",
                "format_version": FORMAT_VERSION,
                "model_version": _version(),
                "settings": _jsonable(dataclasses.asdict(self.settings)),
                "keys": self.keys,
                "var_names": [str(g) for g in self.var_names],
                "train_info": self.train_info,
                "history": self.history,
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
        if meta.get("format") != "scotm":
            raise ScotmInputError(f"{path} is not a saved scotm model")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise ScotmInputError(
                f"{path} has model format {version}; this scotm ({_version()}) reads format "
                f"{FORMAT_VERSION}: re-train, or use the scotm version that saved it"
            )
        try:
            model = cls.__new__(cls)
            model.keys = {
                k: str(meta["keys"][k])
                for k in ("condition_key", "control", "perturbed", "cell_type_key")
            }
            model.settings = Settings.from_dict(meta["settings"])
            model.adata = None
            model._init_state(np.asarray(meta["var_names"], dtype=str))
            state = load_file(str(path / WEIGHTS_FILE))
            model.module.load_state_dict(state)
            with np.load(path / TRANSPORT_FILE, allow_pickle=False) as ref:
                model.reference = _Reference(
                    codes=ref["codes"],
                    shifts=ref["shifts"],
                    cell_types=ref["cell_types"],
                    obs_names=ref["obs_names"],
                )
        except (KeyError, OSError, RuntimeError, ValueError, SafetensorError) as exc:
            if isinstance(exc, ScotmInputError):
                raise
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ScotmInputError(
                f"saved model at {path} is damaged or incompatible: {msg}"
            ) from exc
        model.history = meta.get("history", [])
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
