"""PyTorch Lightning plumbing: the training task, the data module and a history callback.

Kept apart from :mod:`scotm.model` so the user-facing class reads as the method, not as
training-loop code. Lightning gives us progress bars, early stopping, checkpoints and
multi-GPU / multi-node (DDP) training for free.
"""

from __future__ import annotations

import logging
import time

import lightning.pytorch as pl
import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader, Dataset

from .module import VAEModule

_logger = logging.getLogger("scotm.model")  # progress lines belong to the model's training


class RowDataset(Dataset):
    """Rows of a (sparse or dense) cells x genes matrix, densified a batch at a time.

    Keeping X sparse until a batch is drawn lets training scale past what a dense copy of
    the whole matrix would allow.
    """

    def __init__(self, X, index: np.ndarray) -> None:
        self.X = X.tocsr() if sp.issparse(X) else np.asarray(X, dtype=np.float32)
        self.index = np.asarray(index)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> int:
        return int(self.index[i])

    def collate(self, rows: list[int]) -> torch.Tensor:
        block = self.X[np.asarray(rows)]
        if sp.issparse(block):
            block = block.toarray()
        return torch.from_numpy(np.asarray(block, dtype=np.float32))


class CellDataModule(pl.LightningDataModule):
    """Training and validation cells, both drawn from the training data only."""

    def __init__(self, X, train_idx: np.ndarray, val_idx: np.ndarray, batch_size: int, seed: int):
        super().__init__()
        self.train_set = RowDataset(X, train_idx)
        self.val_set = RowDataset(X, val_idx)
        self.batch_size = batch_size
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=len(self.train_set) > self.batch_size,  # MMD needs >1 code per batch
            collate_fn=self.train_set.collate,
            generator=gen,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val_set, batch_size=4096, shuffle=False, collate_fn=self.val_set.collate
        )


class TrainingTask(pl.LightningModule):
    """Optimises :class:`VAEModule`'s loss; logs train and validation losses per epoch."""

    def __init__(self, module: VAEModule, lr: float, weight_decay: float, beta: float):
        super().__init__()
        self.module = module
        self.lr = lr
        self.weight_decay = weight_decay
        self.beta = beta

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        out = self.module.loss(batch, beta=self.beta)
        n = batch.shape[0]
        self.log("train_loss", out["loss"], on_step=False, on_epoch=True, batch_size=n)
        self.log("train_recon", out["recon"], on_step=False, on_epoch=True, batch_size=n)
        self.log("train_reg", out["reg"], on_step=False, on_epoch=True, batch_size=n)
        return out["loss"]

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        out = self.module.loss(batch, beta=self.beta)
        n = batch.shape[0]
        self.log("val_loss", out["loss"], prog_bar=True, batch_size=n)
        self.log("val_recon", out["recon"], batch_size=n)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


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
