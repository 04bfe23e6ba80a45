"""Training machinery: Lightning tasks and data modules (:mod:`.tasks`) and the one runner
(:mod:`.runner`) that does the schedule, the trainer, the thread policy and rank-zero work."""

from .checkpoint import Checkpoints
from .runner import Runner, is_rank_zero, log0, on_rank_zero, quiet_lightning, schedule, train_model
from .tasks import (
    BestWeights,
    CellDataModule,
    History,
    NetworkTask,
    PairDataModule,
    PairDataset,
    RowDataset,
    autoencoder_task,
    response_task,
)

__all__ = [
    "BestWeights",
    "CellDataModule",
    "Checkpoints",
    "History",
    "NetworkTask",
    "PairDataModule",
    "PairDataset",
    "RowDataset",
    "Runner",
    "autoencoder_task",
    "is_rank_zero",
    "log0",
    "on_rank_zero",
    "quiet_lightning",
    "response_task",
    "schedule",
    "train_model",
]
