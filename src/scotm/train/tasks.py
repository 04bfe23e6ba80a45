"""PyTorch Lightning plumbing: the tasks, the data modules and the callbacks.

Kept apart from :mod:`scotm.model` so the user-facing class reads as the method, not as
training-loop code. Every batch is a dict with named keys: ``{"x", "cell_emb"}`` for the
autoencoder, ``{"z", "pert_emb", "target", "cell_emb"}`` for the response network; each
network's ``batch_loss`` reads its own keys.
"""

from __future__ import annotations

import logging
import time

import lightning.pytorch as pl
import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader, Dataset

from .._errors import ScotmInputError
from .._matrix import is_backed_sparse

_logger = logging.getLogger("scotm.model")  # progress lines belong to the model's training


class RowDataset(Dataset):
    """Rows of a (sparse or dense) cells x genes matrix, densified a batch at a time.

    Keeping X sparse until a batch is drawn lets training scale past what a dense copy of
    the whole matrix would allow. ``X`` may also stay on disk: the CSR matrix of an h5ad
    opened with ``anndata.read_h5ad(path, backed="r")``, whose rows are then read a batch at
    a time (out of core).
    """

    def __init__(
        self, X, index: np.ndarray, extra: np.ndarray | None = None, cond: np.ndarray | None = None
    ) -> None:
        if is_backed_sparse(X):
            if X.format != "csr":
                raise ScotmInputError(
                    f"a backed X must be CSR to read cells (rows) from disk, not "
                    f"{X.format.upper()}; rewrite the file with adata.X = adata.X.tocsr(), "
                    "or load it into memory (backed=None)"
                )
            self.X = X
        elif sp.issparse(X):
            self.X = X.tocsr()  # no copy when X is CSR already
        else:
            self.X = np.asarray(X, dtype=np.float32)
        self.index = np.asarray(index)
        # per-cell side input (a cell embedding), the batch's "cell_emb"
        self.extra = None if extra is None else np.asarray(extra, dtype=np.float32)
        # per-cell condition index for a condition-aware network, the batch's "cond"
        self.cond = None if cond is None else torch.as_tensor(np.asarray(cond), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> int:
        return int(self.index[i])

    def collate(self, rows: list[int]) -> dict[str, torch.Tensor | None]:
        rows = np.asarray(rows)
        if is_backed_sparse(self.X):  # read the file in increasing row order, each row once
            unique, back = np.unique(rows, return_inverse=True)
            block = self.X[unique].toarray()[back]
        else:
            block = self.X[rows]
        if sp.issparse(block):
            block = block.toarray()
        x = torch.from_numpy(np.asarray(block, dtype=np.float32))
        extra = None if self.extra is None else torch.from_numpy(self.extra[np.asarray(rows)])
        batch = {"x": x, "cell_emb": extra}
        if self.cond is not None:
            batch["cond"] = self.cond[torch.as_tensor(rows, dtype=torch.long)]
        return batch


class SplitDataModule(pl.LightningDataModule):
    """A training and a validation dataset, both drawn from training data only.

    ``drop_last`` drops a last, smaller training batch (the MMD needs more than one code per
    batch); validation runs in large batches, as it only evaluates.
    """

    def __init__(
        self,
        train_set: Dataset,
        val_set: Dataset,
        batch_size: int,
        seed: int,
        *,
        drop_last: bool = False,
        val_batch_size: int = 4096,
    ) -> None:
        super().__init__()
        self.train_set, self.val_set = train_set, val_set
        self.batch_size = batch_size
        self.seed = seed
        self.drop_last = drop_last
        self.val_batch_size = val_batch_size

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=self.drop_last,
            collate_fn=self.train_set.collate,
            generator=gen,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val_set,
            batch_size=self.val_batch_size,
            shuffle=False,
            collate_fn=self.val_set.collate,
        )


class CellDataModule(SplitDataModule):
    """Training and validation cells, both drawn from the training data only."""

    def __init__(
        self,
        X,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        batch_size: int,
        seed: int,
        extra: np.ndarray | None = None,
        cond: np.ndarray | None = None,
    ):
        super().__init__(
            RowDataset(X, train_idx, extra, cond),
            RowDataset(X, val_idx, extra, cond),
            batch_size,
            seed,
            drop_last=len(train_idx) > batch_size,  # MMD needs >1 code per batch
        )


def _n_rows(batch: dict) -> int:
    """Rows of a batch dict (its first tensor's length)."""
    return len(next(v for v in batch.values() if v is not None))


class NetworkTask(pl.LightningModule):
    """Optimises a network's ``batch_loss``; logs its terms per epoch.

    ``log_train`` / ``log_val`` map each logged name to a term of the loss dict; the first
    validation name shows in the progress bar. ``lr_schedule``: ``"constant"``, or
    ``"cosine"`` (stepped every optimiser step, to 0 at the trainer's last planned step).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        lr: float,
        weight_decay: float,
        log_train: dict[str, str],
        log_val: dict[str, str],
        lr_schedule: str = "constant",
        **loss_kwargs,
    ):
        super().__init__()
        self.module = module
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.log_train, self.log_val = log_train, log_val
        self.loss_kwargs = loss_kwargs

    def _log(self, batch: dict, names: dict[str, str], **kw) -> dict[str, torch.Tensor]:
        out = self.module.batch_loss(batch, **self.loss_kwargs)
        n = _n_rows(batch)
        if self.trainer.world_size > 1:  # every process sees the same, averaged, metrics
            kw = {**kw, "sync_dist": True}
        for i, (name, term) in enumerate(names.items()):
            bar = {"prog_bar": True} if i == 0 and "on_step" not in kw else {}  # val's first
            self.log(name, out[term], batch_size=n, **kw, **bar)
        return out

    def on_train_epoch_start(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._n = 0

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        # The epoch means of the training terms are summed here and logged once, at the
        # epoch's last step: the same batch-size-weighted means as ``self.log(...,
        # on_epoch=True)`` every step, without Lightning's per-step logging cost (about 10%
        # of a small fit's CPU time).
        out = self.module.batch_loss(batch, **self.loss_kwargs)
        n = _n_rows(batch)
        for name, term in self.log_train.items():
            v = out[term].detach() * n
            self._sums[name] = self._sums[name] + v if name in self._sums else v
        self._n += n
        if batch_idx + 1 >= self.trainer.num_training_batches:
            self._log_train_means()
        return out["loss"]

    def _log_train_means(self) -> None:
        sync = {"sync_dist": True} if self.trainer.world_size > 1 else {}
        for name, total in self._sums.items():
            self.log(name, total / self._n, on_step=False, on_epoch=True, batch_size=1, **sync)
        self._sums, self._n = {}, 0

    def on_train_epoch_end(self) -> None:
        if self._n:  # an epoch that ended early (not seen in scotm's own schedules)
            self._log_train_means()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._log(batch, self.log_val)

    def transfer_batch_to_device(self, batch: dict, device: torch.device, dataloader_idx: int):
        if device.type == "cpu":  # batches are built on the CPU: skip Lightning's tree walk
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def configure_optimizers(self):
        opt = adamw(self.parameters(), self.lr, self.weight_decay)
        if self.lr_schedule == "constant":
            return opt
        # the trainer's planned optimiser steps (epochs x steps per epoch or round)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}


def adamw(params, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where this torch and device support it.

    The fused kernel updates every parameter in one pass instead of about six tensor
    operations per parameter: on the 2-core CPU it made ``opt.step()`` of the default network
    several times faster (``benchmarks/adamw_variants.py``). It is the same algorithm, but not
    bit-identical to the per-tensor loop (another order of float operations). Where the
    fused kernel is unavailable (an older torch, an unsupported device or dtype) the
    per-tensor default is used.

    Examples
    --------
    >>> opt = adamw(torch.nn.Linear(3, 2).parameters(), 1e-3, 1e-4)
    >>> type(opt).__name__
    'AdamW'
    """
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError) as err:  # no fused kernel here
        _logger.debug("fused AdamW unavailable (%s); using the per-tensor update", err)
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def autoencoder_task(
    module: torch.nn.Module,
    lr: float,
    weight_decay: float,
    beta: float,
    lr_schedule: str = "constant",
) -> NetworkTask:
    """The autoencoder's task: loss, reconstruction and prior term; early stopping on val_loss.

    Examples
    --------
    >>> from scotm.module import VAEModule
    >>> autoencoder_task(VAEModule(10, (8,), 2), 1e-3, 1e-4, 1.0).log_val
    {'val_loss': 'loss', 'val_recon': 'recon'}
    """
    train = {"train_loss": "loss", "train_recon": "recon", "train_reg": "reg"}
    val = {"val_loss": "loss", "val_recon": "recon"}
    return NetworkTask(module, lr, weight_decay, train, val, lr_schedule, beta=beta)


def response_task(
    module: torch.nn.Module, lr: float, weight_decay: float, lr_schedule: str = "constant"
) -> NetworkTask:
    """The response network's task: the regression loss to the OT shifts.

    Examples
    --------
    >>> from scotm.module import ResponseNet
    >>> list(response_task(ResponseNet(2, 3, hidden=(4,)), 1e-3, 1e-4).log_train)
    ['response_train_loss']
    """
    return NetworkTask(
        module,
        lr,
        weight_decay,
        {"response_train_loss": "loss"},
        {"response_val_loss": "loss"},
        lr_schedule,
    )


class PairDataset(Dataset):
    """(control cell, perturbation) pairs for the response network, built a batch at a time.

    ``codes[i]`` / ``cell_emb[i]`` describe reference cell ``i``; each pair ``(i, j, t)`` asks
    for the shift ``targets[t]`` of cell ``i`` under perturbation ``j`` (row ``j`` of
    ``pert_emb``). Pairs are never materialised as a dense (pairs x embedding) matrix.
    """

    def __init__(
        self,
        codes: np.ndarray,
        pert_emb: np.ndarray,
        targets: np.ndarray,
        cell_idx: np.ndarray,
        pert_idx: np.ndarray,
        cell_emb: np.ndarray | None = None,
    ) -> None:
        self.codes = torch.as_tensor(codes, dtype=torch.float32)
        self.pert_emb = torch.as_tensor(pert_emb, dtype=torch.float32)
        self.targets = torch.as_tensor(targets, dtype=torch.float32)
        self.cell_idx = torch.as_tensor(cell_idx, dtype=torch.long)
        self.pert_idx = torch.as_tensor(pert_idx, dtype=torch.long)
        self.cell_emb = None if cell_emb is None else torch.as_tensor(cell_emb, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> int:
        return i

    def collate(self, rows: list[int]) -> dict[str, torch.Tensor | None]:
        r = torch.as_tensor(rows, dtype=torch.long)
        ci = self.cell_idx[r]
        return {
            "z": self.codes[ci],
            "pert_emb": self.pert_emb[self.pert_idx[r]],
            "target": self.targets[r],
            "cell_emb": None if self.cell_emb is None else self.cell_emb[ci],
        }


class PairDataModule(SplitDataModule):
    """Training and validation pairs for the response network (both from training data)."""

    def __init__(self, train_set: PairDataset, val_set: PairDataset, batch_size: int, seed: int):
        super().__init__(train_set, val_set, batch_size, seed, val_batch_size=8192)


class BestWeights(pl.Callback):
    """Keep the weights of the epoch with the lowest ``monitor`` and restore them at the end.

    Used for the response network, whose validation set is held-out *training
    perturbations*: the epoch that generalises best to perturbations it did not fit is the
    one kept (no held-out data is involved).

    The weights kept are those validated: copied when the validation epoch ends, before a
    weight-averaging callback listed after this one (:mod:`.averaging`) swaps the averaged
    weights back out; the metric is read when validation ends.
    """

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.best = float("inf")
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None
        self._validated: dict[str, torch.Tensor] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, task: pl.LightningModule) -> None:
        self._validated = {k: v.detach().clone() for k, v in task.module.state_dict().items()}

    def on_validation_end(self, trainer: pl.Trainer, task: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.best_epoch = int(trainer.current_epoch)
            self.state = self._validated
        self._validated = None

    def on_fit_end(self, trainer: pl.Trainer, task: pl.LightningModule) -> None:
        if self.state is not None:
            task.module.load_state_dict(self.state)

    def state_dict(self) -> dict:  # saved in checkpoints, so a resumed run keeps the best
        return {"best": self.best, "best_epoch": self.best_epoch, "state": self.state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.state = state["best"], state["best_epoch"], state["state"]


class History(pl.Callback):
    """Keeps every epoch's logged metrics, for training curves and the saved model.

    Each epoch is also logged (logger ``scotm.model``) at DEBUG, and at ``log_level`` (INFO
    where no progress bar shows the epochs: logs, CI, ``scotm run`` piped to a file) when
    ``every_s`` seconds have passed since the last such line, so fast epochs do not flood.
    """

    def __init__(self, log_level: int = logging.DEBUG, every_s: float = 5.0) -> None:
        self.epochs: list[dict[str, float]] = []
        self.log_level = log_level
        self.every_s = every_s
        self._t0 = self._last = time.perf_counter()

    def state_dict(self) -> dict:  # saved in checkpoints, so a resumed run keeps every epoch
        return {"epochs": self.epochs}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = list(state["epochs"])

    def on_train_epoch_start(self, trainer: pl.Trainer, task: pl.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, task: pl.LightningModule) -> None:
        # runs after the epoch's validation, so train and val metrics are both current
        row = {"epoch": int(trainer.current_epoch)}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        self.epochs.append(row)
        if trainer.is_global_zero:
            now = time.perf_counter()
            level = logging.DEBUG
            if now - self._last >= self.every_s or trainer.should_stop:
                level, self._last = max(self.log_level, logging.DEBUG), now
            _logger.log(
                level,
                "  epoch %d/%d: train_loss %.4f, val_loss %.4f (%.1f s)",
                row["epoch"] + 1,
                trainer.max_epochs,
                row.get("train_loss", float("nan")),
                row.get("val_loss", float("nan")),
                time.perf_counter() - self._t0,
            )
