"""Training checkpoints: resume an interrupted run where it stopped.

A checkpoint directory holds one folder per stage (``autoencoder/``, ``response/``). While a
stage trains, Lightning's ``ModelCheckpoint`` writes ``last.ckpt`` there at the end of every
epoch: the weights, the optimiser, the epoch counter, the early-stopping state and scotm's
own callbacks' state (the epoch history, the best response weights). When a stage finishes,
global rank zero writes ``done.pkl``: the stage's final weights and records (and, for the
autoencoder, the OT references, so a resumed run solves no OT again). ``run.json`` records
what the run trains, so a resume with other data or settings is refused.

Resuming reloads a finished stage from ``done.pkl`` and continues an unfinished one with
``trainer.fit(ckpt_path=".../last.ckpt")``. The result has the quality of an uninterrupted
run, not its exact bits: the data order of the epochs after the restart is drawn anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

from .._errors import ScotmInputError

STAGES = ("autoencoder", "response")


def _rank_zero() -> bool:
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def fingerprint(model: Any) -> dict[str, Any]:
    """What a run trains: its settings and a digest of its data (shape, genes, cells, X).

    Examples
    --------
    >>> fingerprint(model)["n_obs"]  # doctest: +SKIP
    120
    """
    adata = model.adata
    h = hashlib.sha256()
    for names in (adata.var_names, adata.obs_names):
        h.update("\0".join(map(str, names)).encode())
    X = adata.X
    data = getattr(X, "data", X)  # a sparse matrix's values, or the dense array
    h.update(memoryview(data.ravel()[:: max(1, data.size // 100_000)].copy()))
    settings = {k: v for k, v in model.settings.as_dict().items() if k != "num_threads"}
    return {
        "n_obs": int(adata.n_obs),
        "n_vars": int(adata.n_vars),
        "data_sha256": h.hexdigest(),
        "settings": json.loads(json.dumps(settings, default=str)),
        "perturbations": list(map(str, model.perturbations)),
    }


class _LastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` keeping one file, ``last.ckpt``, replaced atomically each epoch.

    A kill during a write leaves the previous epoch's ``last.ckpt`` whole (and a stray
    ``last.ckpt.part``, overwritten by the next save).
    """

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        part = f"{filepath}.part"
        trainer.save_checkpoint(part, self.save_weights_only)
        if trainer.is_global_zero:
            os.replace(part, filepath)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath


class Checkpoints:
    """One run's checkpoint directory (``None``: no checkpoints, training as without them).

    Parameters
    ----------
    directory
        Where the checkpoints go; ``None`` turns checkpointing off.
    resume
        Continue from the checkpoints found there (a fresh start where there are none).

    Examples
    --------
    >>> Checkpoints(None, False).callbacks("autoencoder")
    []
    """

    def __init__(self, directory: str | os.PathLike | None, resume: bool = False) -> None:
        self.directory = None if directory is None else Path(directory).expanduser()
        self.resume = bool(resume)
        if self.resume and self.directory is None:
            raise ScotmInputError(
                "resume needs a checkpoint directory; pass checkpoint_dir (argument "
                "checkpoint_dir) or ckpt_path"
            )

    def has_any(self) -> bool:
        """True when the directory holds a checkpoint of some stage."""
        if self.directory is None:
            return False
        return any(
            (self.directory / s / f).exists() for s in STAGES for f in ("last.ckpt", "done.pkl")
        )

    def prepare(self, model: Any) -> None:
        """Check the directory against the run (resume) or that it is free (fresh), record it."""
        if self.directory is None:
            return
        run = self.directory / "run.json"
        current = fingerprint(model)
        if self.resume and run.exists():
            saved = json.loads(run.read_text())
            if saved != current:
                diff = sorted(k for k in current if saved.get(k) != current.get(k))
                raise ScotmInputError(
                    f"the checkpoints in {self.directory} belong to another run (different "
                    f"{', '.join(diff)}); resume with the same data and settings, or start over "
                    "without resume after removing that directory"
                )
        elif not self.resume and _rank_zero() and self.has_any():  # rank zero decides
            raise ScotmInputError(
                f"{self.directory} holds checkpoints of an interrupted run; resume it "
                "(scotm train --resume, train(resume=True)) or remove that directory"
            )
        if _rank_zero():
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = run.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(current, indent=1))
            os.replace(tmp, run)

    def callbacks(self, stage: str) -> list:
        """A ``ModelCheckpoint`` writing ``<dir>/<stage>/last.ckpt`` every epoch (or none)."""
        if self.directory is None:
            return []
        # saved at the end of the training epoch, after validation, early stopping and the
        # history have seen it, so a restart begins with the next epoch
        return [
            _LastCheckpoint(
                dirpath=self.directory / stage,
                filename="last",
                monitor=None,
                save_top_k=1,
                every_n_epochs=1,
                save_on_train_epoch_end=True,
                enable_version_counter=False,
            )
        ]

    def last(self, stage: str) -> str | None:
        """The ``last.ckpt`` to continue ``stage`` from, or ``None`` (fresh start)."""
        if not self.resume or self.directory is None:
            return None
        path = self.directory / stage / "last.ckpt"
        return str(path) if path.exists() else None

    def done(self, stage: str) -> dict[str, Any] | None:
        """The finished ``stage``'s saved result when resuming, else ``None``."""
        if not self.resume or self.directory is None:
            return None
        path = self.directory / stage / "done.pkl"
        if not path.exists():
            return None
        with open(path, "rb") as fh:
            return pickle.load(fh)  # written by this run's own rank zero (see finish)

    def finish(self, stage: str, payload: dict[str, Any]) -> None:
        """Record ``stage`` as finished (global rank zero writes, atomically)."""
        if self.directory is None or not _rank_zero():
            return
        folder = self.directory / stage
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"done.pkl.tmp{os.getpid()}"
        with open(tmp, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / "done.pkl")

    def remove(self) -> None:
        """Delete the checkpoint directory (after the model is saved; rank zero only)."""
        if self.directory is not None and _rank_zero() and self.directory.exists():
            shutil.rmtree(self.directory)
