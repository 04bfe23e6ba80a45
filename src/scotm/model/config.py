"""The model's settings: four typed configs, checked (and parsed from text) before training.

- :class:`ModuleConfig`: the networks (architecture);
- :class:`TrainConfig`: the optimiser and the schedule;
- :class:`TransportConfig`: how control codes are paired with perturbed codes;
- :class:`PredictConfig`: how a new cell borrows shifts and is decoded.

:class:`Settings` holds one of each and reads like one flat list (``settings.n_latent``), as
the saved model and ``scotm train --set KEY=VALUE`` see it. Transport and prediction settings
act after training: :meth:`scotm.model.SCOTM.variant` may change them. Every value is checked
against its type and range when the settings are made; a problem is one line naming the
setting and its valid values.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import ScotmInputError
from ..transport import MAX_EXACT, OTMethod  # the solvers transport.coupling knows: one list

# range checks, by name, in field metadata: (test, what the valid values are)
_RANGES = {
    "positive": (lambda v: v > 0, "greater than 0"),
    "non_negative": (lambda v: v >= 0, "0 or more"),
    "fraction": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "unit": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "open_unit": (lambda v: 0 < v < 1, "in (0, 1) (or none)"),
}


def _f(default: Any, check: str | None = None) -> Any:
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True)
class ModuleConfig:
    """The networks: the autoencoder (by registered name) and the response network."""

    network: str = "vae"
    n_latent: int = _f(64, "positive")
    hidden: tuple[int, ...] = _f((256, 128), "positive")
    dropout: float = _f(0.1, "fraction")
    prior: Literal["mmd", "kl"] = "mmd"
    #: the built-in cell prior (GenePT) into the encoder: "auto" = when the genes are gene
    #: symbols (:mod:`scotm.model.cell_prior`); a ``cell_embedding_key`` replaces it
    cell_prior: Literal["auto", "genept", "none"] = "auto"
    cell_embedding_proj: int = _f(16, "positive")
    response_hidden: tuple[int, ...] = _f((128, 128), "positive")
    #: network "cvae" only: the weight of the MMD between control and perturbed conditions,
    #: where it acts (the codes or the decoder's first layer) and which decoder layers see
    #: the condition (:class:`scotm.module.CondAEModule`)
    cond_mmd: float = _f(1.0, "non_negative")
    cond_mmd_on: Literal["latent", "decoder"] = "decoder"
    cond_layers: Literal["first", "all"] = "first"
    #: the decoder's output, >= 0 as the data: "relu" outputs exact zeros, so a gene the
    #: decoder has turned off for a cell type shows no response at all (which strong genes
    #: depends on the seed); "softplus" (default) keeps a gradient and a change everywhere,
    #: paired with ``zero_below`` (BENCHMARKS.md, "The softplus output as the default")
    output_activation: Literal["relu", "softplus"] = "softplus"


@dataclass(frozen=True)
class TrainConfig:
    """The optimiser and the schedule (steps, not epochs, are what stay similar across data)."""

    #: the weight of the prior term (MMD to a Gaussian) against reconstruction. 0.5 (1.0 up to
    #: 2026-11-27, and in the faithful path): on Kang the means tie 1.0 by the seed rule, and
    #: over 5 seeds they spread a third as much (BENCHMARKS.md, "A weaker MMD prior as the
    #: default")
    beta: float = _f(0.5, "non_negative")
    max_epochs: int | None = _f(None, "positive")
    target_steps: int = _f(1500, "positive")
    #: large data run by steps, up to this many (see :func:`scotm.train.runner.schedule`)
    max_steps: int = _f(10_000, "positive")
    batch_size: int = _f(128, "positive")
    lr: float = _f(1e-3, "positive")
    weight_decay: float = _f(1e-4, "non_negative")
    patience: int = _f(8, "non_negative")
    val_fraction: float = _f(0.1, "fraction")
    #: at most this many validation cells: a mean loss over 10,000 cells is already precise
    #: enough for early stopping, and validation time grows with the cells it scores (at 1M
    #: cells 10% made one round of 150 steps 10x slower); Kang-sized data never reach it
    max_val_cells: int = _f(10_000, "positive")
    seed: int = 0
    num_threads: int | None = _f(None, "positive")
    response_target_steps: int = _f(3000, "positive")
    #: an exponential moving average of each network's weights, this decay per optimiser
    #: step (0.99: about the last 100 steps), validated and kept instead of the last
    #: weights (:mod:`scotm.train.averaging`); ``None``: no averaging
    ema_decay: float | None = _f(None, "open_unit")
    #: the learning rate over the planned steps: "constant", or "cosine" (from ``lr`` down to
    #: 0 at the last planned step; early stopping may end training before the low rates)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    #: how many networks are trained (seeds ``seed``, ``seed + 1000``, ...), each with its
    #: own OT references; a prediction deals the control cells among them (a mixture, see
    #: :mod:`scotm.model.members`), so the mean response is the members' average while each
    #: cell keeps one network's spread. Costs one training per member; on Kang two members
    #: tie one network (BENCHMARKS.md, "Two networks as a mixture"), so the default is one
    members: int = _f(1, "positive")


@dataclass(frozen=True)
class TransportConfig:
    """Pairing control with perturbed codes: OT (which solver, within cell types) or means.

    ``ot_method="auto"`` solves exact EMD for a cell type while control x perturbed cells is
    at most ``max_exact`` and mini-batch OT (a plan that is never dense) above, and logs the
    choice (logger ``scotm.transport``); every Kang cell type stays exact.
    """

    shift: Literal["ot", "mean"] = "ot"
    ot_method: OTMethod = "auto"
    max_exact: int = _f(MAX_EXACT, "positive")
    couple_within_cell_type: bool = True


@dataclass(frozen=True)
class PredictConfig:
    """Transferring shifts to new cells (``k`` neighbours, per cell) and decoding them.

    ``blend`` moves the prediction's mean towards a linear transfer (``"pca_ot"`` or
    ``"mean_shift"``) at weight ``blend_weight`` for the model (``None``: chosen by inner
    validation on the training cell types); ``"auto"`` (default) is ``"pca_ot"`` for a model
    of one perturbation trained on fewer than ``small_data_cells`` cells, else ``"none"``; see
    :mod:`scotm.model.blend`.
    """

    per_cell: bool = True
    k: int = _f(30, "positive")
    #: how the ``k`` neighbours' shifts are weighted: "similarity" (cosine, as published), or
    #: "balanced" (default): each similarity divided by its cell type's number of reference
    #: cells, so every training type counts the same whatever its size, and a shift comes
    #: from the types a cell resembles, not from the most sampled ones (BENCHMARKS.md,
    #: "Neighbours weighted per cell type")
    neighbour_weights: Literal["similarity", "balanced"] = "balanced"
    decode: Literal["residual", "full"] = "residual"
    #: how much of the transferred latent shift is added before decoding (1: all of it; a
    #: condition-aware network may need none: its decoder carries the response)
    shift_scale: float = _f(1.0, "non_negative")
    blend: Literal["auto", "none", "pca_ot", "mean_shift"] = "auto"
    blend_weight: float | None = _f(None, "unit")
    #: how inner validation scores the model on a training type: "refit" retrains the network
    #: without that type's perturbed cells, once per group of types (two more trainings);
    #: "shared" reuses the trained network (fast, but it saw them, which flatters it)
    blend_validation: Literal["refit", "shared"] = "refit"
    #: blend "auto" blends below this many training cells (BENCHMARKS.md, "Small data: the
    #: blend as the default below 5,000 cells")
    small_data_cells: int = _f(5000, "positive")
    #: predicted values below this are set to 0: log-normalised data have nothing between 0
    #: and one count (log1p(1e4 / library size): 0.095 at 100,000 counts), while a softplus
    #: decoder leaves tiny positive values on genes a cell does not express (0: keep all)
    zero_below: float = _f(0.1, "non_negative")


_GROUPS = {"module": ModuleConfig, "train": TrainConfig, "transport": TransportConfig}
_GROUPS["predict"] = PredictConfig
#: which config holds each setting
OWNER = {f.name: g for g, cls in _GROUPS.items() for f in dataclasses.fields(cls)}
#: settings that act after training: changing them needs no retraining
POST_TRAINING = tuple(n for n, g in OWNER.items() if g in ("transport", "predict"))


class Settings:
    """Every setting of the method, in four configs; one configuration serves all folds.

    Ablations are one field away: ``prior="kl"``, ``shift="mean"``, ``per_cell=False``,
    ``ot_method="sinkhorn"``, ``couple_within_cell_type=False``.

    Examples
    --------
    >>> s = Settings(n_latent="32", hidden=5)
    >>> s.n_latent, s.hidden, s.module.n_latent
    (32, (5,), 32)
    >>> Settings(k=0)
    Traceback (most recent call last):
    ...
    scotm._errors.ScotmInputError: setting k must be greater than 0, got 0
    """

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(OWNER)
        if unknown:
            raise ScotmInputError(
                f"unknown setting(s) {', '.join(sorted(unknown))}; "
                f"valid: {', '.join(sorted(OWNER))}"
            )
        for group, cls in _GROUPS.items():
            hints = typing.get_type_hints(cls)
            mine = {
                f.name: parse(f.name, values[f.name], hints[f.name], f.metadata.get("check"))
                for f in dataclasses.fields(cls)
                if f.name in values
            }
            object.__setattr__(self, group, cls(**mine))
        from ..module import get_network

        get_network(self.module.network)  # a registered autoencoder

    module: ModuleConfig
    train: TrainConfig
    transport: TransportConfig
    predict: PredictConfig

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Settings:
        """Settings from a flat dict (values may be text, as ``--set KEY=VALUE`` gives them)."""
        return cls(**d)

    def __getattr__(self, name: str) -> Any:
        if name in OWNER:
            return getattr(object.__getattribute__(self, OWNER[name]), name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("settings are fixed; use replace(**changes)")

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (checked like any settings)."""
        return Settings(**{**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        """One flat dict, every setting (tuples as lists, as JSON stores them)."""
        out = {}
        for group in _GROUPS:
            for k, v in dataclasses.asdict(getattr(self, group)).items():
                out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"


def _fail(name: str, what: str, value: Any) -> ScotmInputError:
    return ScotmInputError(f"setting {name} must be {what}, got {value!r}")


def _text(value: Any) -> Any:
    """A string from the command line as the JSON value it spells, where it spells one."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _scalar(name: str, value: Any, kind: type) -> Any:
    v = _text(value)
    if kind is bool:
        if isinstance(v, bool):
            return v
        raise _fail(name, "true or false", value)
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v):
            raise _fail(name, "an integer", value)
        return int(v)
    if kind is float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _fail(name, "a number", value)
        return float(v)
    if isinstance(v, kind):
        return v
    raise _fail(name, f"a {kind.__name__}", value)


def parse(name: str, value: Any, hint: Any, check: str | None = None) -> Any:
    """``value`` as setting ``name`` of type ``hint``, range-checked; text is parsed.

    Examples
    --------
    >>> parse("hidden", "64,32", tuple[int, ...], "positive")
    (64, 32)
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            return None
        (hint,) = [a for a in args if a is not type(None)]
        v = parse(name, value, hint, check)
        return v
    if origin is Literal:
        if value not in args:
            choices = ", ".join(map(repr, args))
            raise _fail(name, f"one of {choices}", value)
        return value
    if origin is tuple:
        v = _text(value)
        if isinstance(v, str):
            v = [p for p in v.replace("(", "").replace(")", "").split(",") if p.strip()]
        items = [v] if isinstance(v, int | float | str) and not isinstance(v, bool) else v
        if not isinstance(items, list | tuple) or not items:
            raise _fail(name, "one or more integers (e.g. 256,128)", value)
        try:
            out = tuple(_scalar(name, i, int) for i in items)
        except ScotmInputError:
            raise _fail(name, "one or more integers (e.g. 256,128)", value) from None
        if check and not all(_RANGES[check][0](i) for i in out):
            raise _fail(name, f"integers {_RANGES[check][1]}", value)
        return out
    v = _scalar(name, value, hint)
    if check and not _RANGES[check][0](v):
        raise _fail(name, _RANGES[check][1], value)
    return v
