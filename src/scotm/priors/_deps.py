"""Optional dependencies of :mod:`scotm.priors`, imported lazily and always offline.

``scotm`` itself works without them; the first prior that needs one imports it here and, if
it is missing, raises :class:`scotm.ScotmInputError` with the one command that installs it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from .._errors import ScotmInputError

INSTALL_HINT = "pip install 'scotm[priors]'"

#: environment variables that keep Hugging Face libraries from ever reaching the hub
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def set_offline() -> None:
    """Forbid hub downloads: models load from local directories only."""
    os.environ.update(OFFLINE_ENV)


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` (offline) or raise a one-line ScotmInputError on how to install it.

    Parameters
    ----------
    module
        Import name, e.g. ``"transformers"``.
    what
        What needs it, for the message, e.g. ``"SMILES language models"``.
    """
    set_offline()  # before the import: huggingface_hub reads these variables once
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        root = module.split(".")[0]
        missing = getattr(exc, "name", None) or root
        # the package itself, or something it imports, is missing or broken
        detail = "" if missing.split(".")[0] == root else f" (it failed to import: {exc})"
        raise ScotmInputError(
            f"{what} need the Python package '{root}', which is not installed{detail}; "
            f"install it with: {INSTALL_HINT}"
        ) from exc
