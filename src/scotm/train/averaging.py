"""Weight averaging: an exponential moving average (EMA) of a network's weights.

With ``ema_decay`` set, every optimiser step updates an average of the weights,
``ema = decay * ema + (1 - decay) * weights`` (the first step copies them). Validation, and
so early stopping and the response network's best-epoch choice, scores the averaged weights,
and the averaged weights are what training leaves in the network: what predicts and what is
saved. Averaging over the last few hundred steps smooths the step-to-step noise of the
optimiser, at the cost of one extra copy of the weights. On Kang it did not narrow the
spread between seeds, which lies in a few genes the decoder switches off, not in step noise
(BENCHMARKS.md, "Seed variance within one training"); it is off by default.

The averaging itself is Lightning's maintained :class:`~lightning.pytorch.callbacks.
EMAWeightAveraging` (``torch.optim.swa_utils.AveragedModel`` underneath); it swaps the
averaged weights in for validation and copies them into the network when training ends, and
keeps both the averaged and the current weights in Lightning checkpoints, so a resumed run
continues both.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback, EMAWeightAveraging


def averaging_callbacks(decay: float | None) -> list[Callback]:
    """The callbacks that average a fit's weights: none for ``decay=None`` (no averaging).

    Parameters
    ----------
    decay
        The EMA decay per optimiser step, in (0, 1): about ``1 / (1 - decay)`` recent steps
        carry the average (0.99: 100 steps). ``None``: the last weights, as without it.

    Examples
    --------
    >>> averaging_callbacks(None)
    []
    >>> [type(c).__name__ for c in averaging_callbacks(0.99)]
    ['EMAWeightAveraging']
    """
    if decay is None:
        return []
    # use_buffers: buffers (none in scotm's networks today) are averaged like the weights
    return [EMAWeightAveraging(decay=decay, use_buffers=True)]
