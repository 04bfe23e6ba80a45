"""Saving and reading a model directory (format 2): one state, its weights and references.

Weights go to safetensors; the state (:class:`~scotm.model.state.ModelState`: settings, keys,
genes, the priors' provenance) plus the training record to JSON; the OT references and the
training perturbations' embedding table to ``.npz`` files of plain arrays: loading never
unpickles anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ScotmInputError
from .._io import atomic_dir
from . import reference
from .state import ModelState

if TYPE_CHECKING:  # pragma: no cover
    from .core import SCOTM

FORMAT_VERSION = 2  # 2: several perturbations, prior embeddings, the response network
SETTINGS_FILE = "scotm.json"
WEIGHTS_FILE = "weights.safetensors"
TRANSPORT_FILE = "transport.npz"
RESPONSE_FILE = "response.safetensors"
EMBEDDINGS_FILE = "embeddings.npz"


def version() -> str:
    """This scotm's version string.

    Examples
    --------
    >>> isinstance(version(), str)
    True
    """
    from .. import __version__

    return __version__


def _weights(module) -> dict:
    return {k: v.contiguous() for k, v in module.state_dict().items()}


def save(model: SCOTM, path: str | os.PathLike, overwrite: bool = False) -> None:
    """Write ``model`` to directory ``path``, atomically (see :meth:`SCOTM.save`).

    Examples
    --------
    >>> save(model, "my_model/")  # doctest: +SKIP
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.exists() and not overwrite:
        raise ScotmInputError(f"{path} exists; set argument overwrite to replace it")
    state = model.state
    with atomic_dir(path) as tmp:
        save_file(_weights(model.module), str(tmp / WEIGHTS_FILE))
        np.savez(tmp / TRANSPORT_FILE, **reference.pack(model.references, state.perturbations))
        networks = {"module": type(model.module).network_name}
        if model.response is not None:
            networks["response"] = type(model.response).network_name
            save_file(_weights(model.response), str(tmp / RESPONSE_FILE))
            np.savez(
                tmp / EMBEDDINGS_FILE,
                names=np.asarray(state.perturbations, dtype="U"),
                vectors=np.vstack([state.pert_table[p] for p in state.perturbations]),
            )
        meta = {
            "format": "scotm",
            "format_version": FORMAT_VERSION,
            "model_version": version(),
            **state.to_json(),
            "networks": networks,
            "train_info": model.train_info,
            "history": model.history,
            "response_history": model.response_history,
        }
        (tmp / SETTINGS_FILE).write_text(json.dumps(meta, indent=1))


def read_meta(path: Path) -> dict[str, Any]:
    """``scotm.json`` of a saved model, checked to be one this scotm reads.

    Examples
    --------
    >>> read_meta(Path("my_model"))["format_version"]  # doctest: +SKIP
    2
    """
    meta_file = path / SETTINGS_FILE
    if not meta_file.exists():
        raise ScotmInputError(f"{path} is not a saved scotm model (no {SETTINGS_FILE})")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScotmInputError(f"{meta_file} is corrupt ({exc}); re-save the model") from exc
    if not isinstance(meta, dict) or meta.get("format") != "scotm":
        raise ScotmInputError(f"{path} is not a saved scotm model")
    found = meta.get("format_version")
    if found != FORMAT_VERSION:
        raise ScotmInputError(
            f"{path} has model format {found}; this scotm ({version()}) reads format "
            f"{FORMAT_VERSION}: re-train, or use the scotm version that saved it"
        )
    return meta


def load(cls: type[SCOTM], path: str | os.PathLike) -> SCOTM:
    """The model saved at ``path``, rebuilt through ``cls(state=...)`` (see :meth:`SCOTM.load`).

    Examples
    --------
    >>> model = load(SCOTM, "my_model/")  # doctest: +SKIP
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_meta(path)
    try:
        table = None
        if meta.get("perturbation_embedding") is not None:
            with np.load(path / EMBEDDINGS_FILE, allow_pickle=False) as emb:
                names, vectors = emb["names"].astype(str), emb["vectors"].astype(np.float32)
                table = dict(zip(names, vectors, strict=True))
        state = ModelState.from_json(meta, table)
        model = cls(state=state)
        model.module.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
        if model.response is not None:
            model.response.load_state_dict(load_file(str(path / RESPONSE_FILE)))
        with np.load(path / TRANSPORT_FILE, allow_pickle=False) as arrays:
            refs = reference.unpack(arrays, state.perturbations)
    except (KeyError, OSError, RuntimeError, ValueError, TypeError, SafetensorError) as exc:
        if isinstance(exc, ScotmInputError):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScotmInputError(f"saved model at {path} is damaged or incompatible: {msg}") from exc
    model.trained(refs, meta.get("history", []), meta.get("response_history", []))
    model.train_info = meta.get("train_info", {})
    return model
