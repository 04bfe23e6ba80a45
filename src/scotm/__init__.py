"""scotm: predict single-cell perturbation responses in cell types never seen perturbed.

Submodules are imported lazily, on first attribute access: ``import scotm`` stays fast (the
CLI's ``--help`` does not pay for torch, POT and scanpy), while ``scotm.pp.prepare(...)`` works
as if everything had been imported up front.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from ._errors import ScotmInputError
from ._threads import set_wait_policy as _set_wait_policy

_set_wait_policy()  # OMP_WAIT_POLICY=PASSIVE unless the user set it; must precede torch's import

try:
    __version__ = version("scotm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

# Submodules loaded on first access (``scotm.pp``) and names re-exported from them.
_SUBMODULES = frozenset(
    {
        "baselines",
        "benchmark",
        "cli",
        "datasets",
        "metrics",
        "model",
        "module",
        "pl",
        "pp",
        "priors",
        "report",
        "simulate",
        "transport",
    }
)
_ATTRS = {"SCOTM": "model"}

if TYPE_CHECKING:  # pragma: no cover - for static analysers and IDEs only
    from . import baselines, benchmark, datasets, metrics, pp  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        mod = _import(name)
        globals()[name] = mod
        return mod
    if name in _ATTRS:
        value = getattr(_import(_ATTRS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _import(submodule: str):
    try:
        return importlib.import_module(f".{submodule}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{submodule}":
            raise  # the submodule exists but one of its own imports failed: show that
        # a submodule not written yet: behave like a missing attribute (hasattr() works)
        raise AttributeError(f"module {__name__!r} has no attribute {submodule!r}") from exc


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_ATTRS))


__all__ = [
    "ScotmInputError",
    "__version__",
    "baselines",
    "benchmark",
    "datasets",
    "metrics",
    "pp",
]
