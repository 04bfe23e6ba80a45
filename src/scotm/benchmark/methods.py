"""The benchmark's method registry: models and baselines register themselves here.

A method is a factory from :class:`scotm.design.Keys` to an unfitted object with ``fit(train)``
and ``predict(ctrl)``. :mod:`scotm.baselines` and :mod:`scotm.model` register theirs when
imported; :func:`method_factories` imports them, so every method is known on first use.

A method registered with ``multi=True`` can learn several perturbations at once: in a run
over many perturbations it is fit once per fold (keys naming every perturbation) and asked
``predict(ctrl, perturbation=p)`` for each; any other method is fit once per perturbation,
on the control cells and that perturbation's cells only (:mod:`scotm.benchmark.multi`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from .._errors import ScotmInputError
from ..design import Keys

MethodFactory = Callable[[Keys], object]

#: obsm key of GenePT cell embeddings, computed once for all cells when a method needs them
GENEPT_KEY = "X_genept"
#: modules whose import registers methods, in the order their methods are listed
PROVIDERS = ("scotm.baselines", "scotm.model")

_METHODS: dict[str, MethodFactory] = {}
_CHANGES: dict[str, dict[str, Any]] = {}
_MULTI: set[str] = set()


def register_method(
    name: str,
    factory: MethodFactory,
    changes: dict[str, Any] | None = None,
    *,
    multi: bool = False,
):
    """Make ``factory`` the benchmark method ``name``; ``changes`` are the settings it changes
    from its model's defaults (shown in the report); ``multi``: one fitted object predicts
    every perturbation (its ``predict`` takes ``perturbation=``).

    Examples
    --------
    >>> from scotm.baselines import Identity
    >>> register_method("identity_too", lambda keys: Identity(**keys.as_kwargs()))
    >>> "identity_too" in method_factories()
    True
    >>> unregister_method("identity_too")
    """
    _METHODS[name] = factory
    if changes is not None:
        _CHANGES[name] = dict(changes)
    if multi:
        _MULTI.add(name)
    else:
        _MULTI.discard(name)


def unregister_method(name: str) -> None:
    """Forget method ``name`` (e.g. one a test registered).

    Examples
    --------
    >>> unregister_method("not_there")
    """
    _METHODS.pop(name, None)
    _CHANGES.pop(name, None)
    _MULTI.discard(name)


def method_factories() -> dict[str, MethodFactory]:
    """Every method the benchmark knows, by name: a factory from keys to an unfitted model.

    Examples
    --------
    >>> list(method_factories())[:3]
    ['identity', 'mean_shift', 'pca_ot']
    """
    for module in PROVIDERS:
        importlib.import_module(module)
    return dict(_METHODS)


def check_methods(methods: Sequence[str]) -> list[str]:
    """``methods`` without repeats, after checking that each is registered.

    Examples
    --------
    >>> check_methods(["identity", "identity"])
    ['identity']
    """
    known = method_factories()
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ScotmInputError(
            f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(known)} with "
            "argument methods"
        )
    return list(dict.fromkeys(methods))


def method_changes(name: str) -> dict[str, Any] | None:
    """The settings method ``name`` changes from its model's defaults (``None``: none).

    Examples
    --------
    >>> method_changes("scotm_kl")
    {'prior': 'kl'}
    """
    method_factories()
    return _CHANGES.get(name)


def is_multi(name: str) -> bool:
    """Whether method ``name`` fits one object for several perturbations (``multi=True``).

    Examples
    --------
    >>> is_multi("scotm"), is_multi("mean_shift")
    (True, False)
    """
    method_factories()
    return name in _MULTI
