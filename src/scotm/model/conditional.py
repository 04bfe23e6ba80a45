"""Hooks for a condition-aware network (``network="cvae"``, the trVAE idea).

The network (:class:`scotm.module.CondAEModule`) decodes a code under a condition: 0 is
control, ``j`` the ``j``-th training perturbation. These functions keep :class:`SCOTM` short:
they build the network with one condition per training perturbation, give each training cell
its condition for the batches, and decode a prediction as

    x_ctrl + D(z + shift_scale * s, perturbed) - D(z, control)

(``decode="residual"``; ``"full"`` drops ``x_ctrl - D(z, control)``), where ``s`` is the
latent shift of :func:`scotm.model.predict.latent_shift` (the scOTM transfer of OT shifts).
A combination ``"A+B"`` of training perturbations is decoded under the sum of its parts'
conditions; any other perturbation (unseen, predicted from its embedding) under control,
which is the plain scOTM decoding of the shifted code. Other networks decode as before.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .._arrays import dense
from ..module import get_network
from . import predict as _p


def is_conditional(network: Any) -> bool:
    """Whether ``network`` decodes under a condition.

    Examples
    --------
    >>> from scotm.module import VAEModule
    >>> is_conditional(VAEModule(5, (4,), 2))
    False
    """
    return hasattr(network, "n_conditions")


def build_network(settings: Any, n_genes: int, n_cell: int, perturbations: list[str]):
    """The autoencoder ``settings.network`` names; a conditional one gets a condition per
    training perturbation, plus control.

    Examples
    --------
    >>> from scotm.model.config import Settings
    >>> build_network(Settings(network="cvae", hidden=4, n_latent=2), 6, 0, ["a", "b"]).n_conditions
    3
    """
    cls = get_network(settings.network)
    if "n_conditions" in inspect.signature(cls.from_config).parameters:
        net = cls.from_config(n_genes, settings.module, n_cell, len(perturbations) + 1)
    else:
        net = cls.from_config(n_genes, settings.module, n_cell)
    net.output = settings.output_activation  # a key of scotm.module.OUTPUTS
    return net


def condition_index(model: Any, adata) -> np.ndarray | None:
    """Each cell's condition (0 control, ``j + 1`` perturbation ``j``), or ``None`` when the
    model's network does not use it.

    Examples
    --------
    >>> condition_index(model, model.adata)[:3]  # doctest: +SKIP
    array([0, 0, 1])
    """
    if not is_conditional(model.module):
        return None
    cond = model.design.conditions(adata)
    index = {p: j + 1 for j, p in enumerate(model.perturbations)}
    return np.array([index.get(c, 0) for c in cond], dtype=np.int64)


def condition_vector(model: Any, name: str) -> np.ndarray:
    """The condition a prediction of ``name`` is decoded under (see the module's text).

    Examples
    --------
    >>> condition_vector(model, "stimulated")  # doctest: +SKIP
    array([0., 1.], dtype=float32)
    """
    vec = np.zeros(len(model.perturbations) + 1, dtype=np.float32)
    parts = [name] if name in model.perturbations else _p.combo_parts(name, model.perturbations)
    for p in parts or []:
        vec[model.perturbations.index(p) + 1] = 1.0
    if not vec.any():
        vec[0] = 1.0
    return vec


def predict_expression(
    model: Any, X, z: np.ndarray, shift: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted expression and shifted codes of control cells ``X`` with codes ``z``.

    Examples
    --------
    >>> X_pred, z_new = predict_expression(model, ctrl.X, z, shift, "stimulated")  # doctest: +SKIP
    """
    s, net = model.settings, model.module
    z_new = z + s.shift_scale * shift
    if not is_conditional(net):
        return _p.DECODERS[s.decode](net, X, z, z_new), z_new
    control = np.zeros(net.n_conditions, dtype=np.float32)
    control[0] = 1.0
    out = _p.decode(net, z_new, cond=condition_vector(model, name))
    if s.decode == "residual":
        out = np.clip(dense(X) + out - _p.decode(net, z, cond=control), 0.0, None)
    return out, z_new
