"""The one training runner: the schedule, the trainer, the thread policy and both fits.

:func:`train_model` trains a :class:`scotm.model.SCOTM` in three stages: the autoencoder
(early stopping on held-out training cells), the OT references (on global rank zero only,
then broadcast to every process), and, with perturbation embeddings, the response network.
Both fits run on the same ``accelerator`` / ``devices`` / ``strategy`` / ``num_nodes``.
Under DDP every process trains; rank zero alone solves OT, logs and writes (checkpoints, the
model). With a checkpoint directory (:mod:`.checkpoint`) each stage can be resumed.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from .averaging import averaging_callbacks
from .checkpoint import Checkpoints
from .tasks import (
    BestWeights,
    CellDataModule,
    History,
    PairDataModule,
    PairDataset,
    autoencoder_task,
    response_task,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..model import SCOTM

logger = logging.getLogger("scotm.model")  # progress lines belong to the model's training


def quiet_lightning() -> None:
    """Silence Lightning's banners and the warnings that do not apply to scotm's data.

    Examples
    --------
    >>> quiet_lightning()
    """
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")
    # NetworkTask skips the device transfer on the CPU; Lightning warns that it overrides
    warnings.filterwarnings("ignore", message=".*overridden `transfer_batch_to_device`.*")


def is_rank_zero() -> bool:
    """True on the process of global rank zero (always, without distributed training).

    Examples
    --------
    >>> is_rank_zero()
    True
    """
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def log0(level: int, msg: str, *args: Any) -> None:
    """Log a progress line from global rank zero only (one line, not one per process).

    Examples
    --------
    >>> log0(logging.DEBUG, "only rank zero logs this")
    """
    if is_rank_zero():
        logger.log(level, msg, *args)


#: Default cap on optimiser steps where the epoch floor would cost more (``max_steps``).
MAX_STEPS = 10_000


class Schedule(NamedTuple):
    """A training schedule: ``epochs`` rounds of ``steps`` optimiser steps of ``batch_size``.

    ``round_steps`` is ``None`` when every round is a full epoch; otherwise a round is that
    many steps (a fresh shuffle each round), validation follows each round, and the trainer
    needs ``limit_train_batches=round_steps``.
    """

    batch_size: int
    steps: int
    epochs: int
    round_steps: int | None = None


def schedule(
    n_train: int,
    max_batch: int,
    target_steps: int,
    min_epochs: int,
    epochs: int | None,
    max_steps: int = MAX_STEPS,
) -> Schedule:
    """The schedule for ``n_train`` training examples, set in optimiser steps.

    The optimiser needs a similar number of steps whatever the data size: small data get
    smaller batches and more epochs (about ``target_steps`` steps, at least ``min_epochs``
    epochs). Where that epoch schedule would take more than ``max_steps`` steps (large data,
    where the ``min_epochs`` floor binds: with the defaults nothing else reaches the cap),
    training runs by steps instead: up to ``max_steps`` steps in rounds of at most
    ``ceil(target_steps / min_epochs)`` steps, each followed by validation, so early stopping
    acts within an epoch. ``epochs``, where given, overrides the count (full epochs).

    Examples
    --------
    >>> schedule(1000, 128, 1500, 10, None)
    Schedule(batch_size=62, steps=16, epochs=94, round_steps=None)
    >>> schedule(1_000_000, 128, 1500, 10, None)  # 10 epochs would be 78,120 steps
    Schedule(batch_size=128, steps=150, epochs=66, round_steps=150)
    """
    batch_size = int(min(max_batch, max(16, n_train // 16)))
    steps = max(1, n_train // batch_size)
    if epochs:
        return Schedule(batch_size, steps, epochs)
    n_epochs = int(np.clip(-(-target_steps // steps), min_epochs, 400))
    if n_epochs * steps <= max_steps:  # every data set where the epoch floor does not bind
        return Schedule(batch_size, steps, n_epochs)
    round_steps = min(steps, max(1, -(-target_steps // min_epochs)))
    return Schedule(batch_size, round_steps, max(1, max_steps // round_steps), round_steps)


@dataclass
class Runner:
    """Builds Lightning trainers and runs fits under the thread policy.

    Parameters
    ----------
    patience, num_threads
        Early stopping patience; torch threads while fitting (``None``: the
        ``SCOTM_THREADS`` environment variable, else :func:`scotm._threads.pick_threads`'s rule).
    trainer_kwargs
        ``accelerator``, ``devices``, ``strategy``, ``num_nodes``: every fit gets the same.
    checkpoints
        Where each stage's ``last.ckpt`` goes and whether to resume (default: none).
    """

    patience: int
    num_threads: int | None
    progress: bool = True
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoints: Checkpoints = field(default_factory=lambda: Checkpoints(None))

    def trainer(self, epochs: int, monitor: str, callbacks: list, stage: str | None = None):
        import lightning.pytorch as pl
        from lightning.pytorch.callbacks import EarlyStopping

        saving = self.checkpoints.callbacks(stage) if stage else []
        return pl.Trainer(
            max_epochs=epochs,
            callbacks=[
                EarlyStopping(monitor, patience=self.patience, mode="min"),
                *callbacks,
                *saving,
            ],
            enable_progress_bar=self.progress,
            enable_model_summary=False,
            enable_checkpointing=bool(saving),
            logger=False,
            deterministic=True,
            num_sanity_val_steps=0,
            **self.trainer_kwargs,
        )

    def fit(
        self,
        trainer,
        task,
        data,
        module: torch.nn.Module,
        round_steps: int | None = None,
        ckpt_path: str | None = None,
    ) -> None:
        """Fit ``task`` on ``data`` under the thread policy, then put ``module`` on the CPU.

        ``round_steps`` (a :class:`Schedule`'s): each of the trainer's epochs is that many
        steps of a fresh shuffle, then validation; ``None``: full epochs. ``ckpt_path``: a
        Lightning checkpoint to resume from.

        Threads: :func:`scotm._threads.pick_threads` (``num_threads``, else the
        ``SCOTM_THREADS`` environment variable, else one thread under 200,000 parameters and
        every usable CPU above), restored afterwards.
        """
        from .._threads import thread_scope

        n_params = sum(p.numel() for p in module.parameters())
        if round_steps is not None:
            trainer.limit_train_batches = round_steps  # read when the fit sets up its data
        with thread_scope(n_params, self.num_threads) as n:
            logger.debug("Training on %d torch thread(s) (%d parameters)", n, n_params)
            trainer.fit(task, datamodule=data, ckpt_path=ckpt_path)
        module.cpu().eval()


def on_rank_zero(trainer, fn: Callable[[], Any]) -> Any:
    """``fn()`` on global rank zero, its result broadcast to every process.

    Examples
    --------
    >>> refs = on_rank_zero(trainer, model.build_references)  # doctest: +SKIP
    """
    result = fn() if trainer.is_global_zero else None
    return trainer.strategy.broadcast(result, src=0)


def train_model(model: SCOTM, max_epochs: int | None, runner: Runner) -> None:
    """Train ``model``'s autoencoder, build its OT references, train its response network.

    The validation splits used for early stopping are drawn from the training cells (and
    training perturbations) only. ``max_epochs`` caps both networks' epochs.

    Examples
    --------
    >>> train_model(model, None, Runner(patience=8, num_threads=1))  # doctest: +SKIP
    """
    import lightning.pytorch as pl

    s = model.settings
    quiet_lightning()
    pl.seed_everything(s.seed, workers=True, verbose=False)
    adata = model.adata
    n = adata.n_obs
    order = np.random.default_rng(s.seed).permutation(n)
    n_val = min(int(round(n * s.val_fraction)), s.max_val_cells) if n >= 20 else 0
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    if n_val == 0:  # too few cells to spare a validation split: validate on training
        val_idx = train_idx
    cap = max_epochs or s.max_epochs
    batch_size, steps, epochs, rounds = schedule(
        len(train_idx), s.batch_size, s.target_steps, 10, cap, s.max_steps
    )
    from ..model.conditional import condition_index

    extra, cond = model.cell_embedding_of(adata), condition_index(model, adata)
    data = CellDataModule(adata.X, train_idx, val_idx, batch_size, s.seed, extra, cond)
    task = autoencoder_task(model.module, s.lr, s.weight_decay, s.beta, s.lr_schedule)
    # a progress bar shows the epochs; without one, each epoch is a log line
    history = History(logging.DEBUG if runner.progress else logging.INFO)
    log0(
        logging.INFO,
        "Training SCOTM on %d cells x %d genes: up to %d epochs of %d steps, early "
        "stopping on %d validation cells",
        len(train_idx),
        adata.n_vars,
        epochs,
        steps,
        n_val,
    )
    ckpt = runner.checkpoints
    ckpt.prepare(model)
    done = ckpt.done("autoencoder")
    if done is not None:  # resumed after this stage finished: no training, no OT again
        model.module.load_state_dict(done["state_dict"])
        model.module.cpu().eval()
        model.history, model.train_info = done["history"], dict(done["info"], resumed=True)
        model.references = done["built"].refs
        log0(logging.INFO, "Resumed: the autoencoder and the OT pairing were done already")
        if model.response is not None:
            _train_response(model, done["built"], cap, runner, extra)
        return
    averaging = averaging_callbacks(s.ema_decay)  # validated and kept: the averaged weights
    trainer = runner.trainer(epochs, "val_loss", [history, *averaging], stage="autoencoder")
    t0 = time.perf_counter()
    last = ckpt.last("autoencoder")
    if last:
        log0(logging.INFO, "Resuming the autoencoder from %s", last)
    runner.fit(trainer, task, data, model.module, rounds, ckpt_path=last)
    model.history = history.epochs
    info = model.train_info = {
        "epochs": len(history.epochs),
        "train_seconds": time.perf_counter() - t0,
        "n_train_cells": int(len(train_idx)),
        "n_val_cells": int(n_val),
        "batch_size": batch_size,
        "max_epochs": epochs,
        "epoch_cap": cap,  # train(max_epochs=...) or the setting: the blend's refits reuse it
    }
    if last:
        info["resumed"] = True
    log0(
        logging.INFO,
        "Trained %d epochs in %.1f s (best val_loss %.4f)",
        len(history.epochs),
        info["train_seconds"],
        min((row.get("val_loss", np.inf) for row in history.epochs), default=np.nan),
    )
    t1 = time.perf_counter()
    how = f"{s.ot_method} OT" if s.shift == "ot" else "mean shift, no OT"
    log0(logging.INFO, "Pairing control with perturbed codes (%s) ...", how)
    # exact EMD once, not per process
    built = on_rank_zero(trainer, lambda: model.build_references(extra))
    model.references = built.refs
    info["transport_seconds"] = time.perf_counter() - t1
    log0(
        logging.INFO,
        "Paired (%s): %d training control cells have a shift, in %.1f s",
        how,
        sum(len(ref.codes) for ref in built.refs.values()),
        info["transport_seconds"],
    )
    state = {k: v.detach().cpu() for k, v in model.module.state_dict().items()}
    payload = {"state_dict": state, "history": history.epochs, "info": info, "built": built}
    ckpt.finish("autoencoder", payload)
    if model.response is not None:
        _train_response(model, built, cap, runner, extra)


def _train_response(
    model: SCOTM, built, cap: int | None, runner: Runner, extra: np.ndarray | None
) -> None:
    """Fit the response network to the OT shifts of every (control cell, perturbation).

    Early stopping watches held-out *training perturbations* when there are at least five
    (the network's job is to generalise to new perturbations), else held-out pairs; the
    weights of the best validation epoch are kept.
    """
    import lightning.pytorch as pl

    s = model.settings
    pl.seed_everything(s.seed, workers=True, verbose=False)
    perts = model.perturbations
    pert_emb = np.vstack([model.pert_table[p] for p in perts])
    cell_idx = np.concatenate([built.rows[p] for p in perts])
    pert_idx = np.concatenate([np.full(len(built.rows[p]), j) for j, p in enumerate(perts)])
    targets = np.vstack([built.refs[p].shifts for p in perts])
    # ``extra``: the training cells' prior, as the autoencoder got it
    is_c = model.design.conditions(model.adata) == model.design.control
    ce = None if extra is None else extra[is_c]
    rng = np.random.default_rng(s.seed)
    if len(perts) >= 5:
        n_val = max(1, int(round(len(perts) * s.val_fraction)))
        val_perts = rng.choice(len(perts), n_val, replace=False)
        is_val = np.isin(pert_idx, val_perts)
        model.train_info["response_val_perturbations"] = sorted(perts[j] for j in val_perts)
    else:
        is_val = rng.random(len(targets)) < s.val_fraction
    if not is_val.any() or is_val.all():
        is_val = np.zeros(len(targets), dtype=bool)
        is_val[:: max(2, len(targets) // 10 or 2)] = True

    def pairs(sel: np.ndarray) -> PairDataset:
        return PairDataset(
            built.ctrl_codes, pert_emb, targets[sel], cell_idx[sel], pert_idx[sel], ce
        )

    train_set, val_set = pairs(~is_val), pairs(is_val)
    batch_size, _, epochs, rounds = schedule(
        len(train_set), 256, s.response_target_steps, 3, cap, s.max_steps
    )
    ckpt = runner.checkpoints
    done = ckpt.done("response")
    if done is not None:
        model.response.load_state_dict(done["state_dict"])
        model.response.cpu().eval()
        model.response_history = done["history"]
        model.train_info.update(done["info"], response_resumed=True)
        return
    history = History()
    best = BestWeights("response_val_loss")
    # BestWeights before the averaging: it copies the weights validated (the averaged ones)
    callbacks = [history, best, *averaging_callbacks(s.ema_decay)]
    trainer = runner.trainer(epochs, "response_val_loss", callbacks, stage="response")
    task = response_task(model.response, s.lr, s.weight_decay, s.lr_schedule)
    t0 = time.perf_counter()
    data = PairDataModule(train_set, val_set, batch_size, s.seed)
    last = ckpt.last("response")
    if last:
        log0(logging.INFO, "Resuming the response network from %s", last)
    runner.fit(trainer, task, data, model.response, rounds, ckpt_path=last)
    model.response_history = history.epochs
    info = {
        "response_epochs": len(history.epochs),
        "response_best_epoch": best.best_epoch,
        "response_seconds": time.perf_counter() - t0,
        "response_train_pairs": int(len(train_set)),
        "response_val_pairs": int(len(val_set)),
    }
    if last:
        info["response_resumed"] = True
    model.train_info.update(info)
    state = {k: v.detach().cpu() for k, v in model.response.state_dict().items()}
    ckpt.finish("response", {"state_dict": state, "history": history.epochs, "info": info})
