"""Saving and reading a model directory (format 3): one state, its weights and references.

A model of several networks (``members``) keeps the others' weights and references in the
same directory, their names prefixed ``member1.``, ``member2.``, ... (and their training
records under ``members`` in the JSON).

Weights go to safetensors; the state (:class:`~scotm.model.state.ModelState`: settings, keys,
genes, the priors' provenance) plus the training record to JSON; the OT references, the
training perturbations' embedding table and the cell prior's gene vectors to ``.npz`` files
of plain arrays: loading never unpickles anything. ``manifest.json`` (written last, see
:mod:`scotm._manifest`) holds the SHA-256 and size of every file; loading reads each file
once, through that check, so a tampered, truncated or foreign file, a FIFO, a device or a
link is refused in one line.
Format-2 directories (no manifest) still load through the same safe reader, with a warning.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _manifest
from .._errors import ScotmInputError
from .._io import atomic_dir
from . import blend, members, reference
from .state import ModelState

if TYPE_CHECKING:  # pragma: no cover
    from .core import SCOTM

logger = logging.getLogger("scotm.model")

FORMAT_VERSION = 3  # 2: several perturbations, prior embeddings, the response network; 3: manifest
READS = (2, 3)  # format versions this scotm loads
SETTINGS_FILE = "scotm.json"
WEIGHTS_FILE = "weights.safetensors"
TRANSPORT_FILE = "transport.npz"
RESPONSE_FILE = "response.safetensors"
GENE_PRIOR_FILE = "gene_prior.npz"  # the built-in cell prior's gene vectors
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
    path = Path(path)
    if path.exists() and not overwrite:
        raise ScotmInputError(f"{path} exists; set argument overwrite to replace it")
    state = model.state
    with atomic_dir(path) as tmp:
        networks = _save_network(model, tmp, "")
        packed = blend.pack(model)  # the blend acts on the members' mixed prediction
        if packed is not None:
            np.savez(tmp / blend.BLEND_FILE, **packed)
        # members 1, 2, ...: the same files, their names prefixed (the model is member 0)
        records = []
        for m, sib in enumerate(model.siblings, start=1):
            _save_network(sib, tmp, f"member{m}.")
            records.append(
                {"history": sib.history, "response_history": sib.response_history,
                 "train_info": sib.train_info}
            )  # fmt: skip
        if model.response is not None:
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
            "settings": model.settings.as_dict(),  # a variant's, where it changed them
            "networks": networks,
            "train_info": model.train_info,
            "history": model.history,
            "response_history": model.response_history,
        }
        if records:
            meta["members"] = records
        if state.gene_prior is not None:
            np.savez(tmp / GENE_PRIOR_FILE, vectors=state.gene_prior)
        (tmp / SETTINGS_FILE).write_text(json.dumps(meta, indent=1))
        _manifest.write_manifest(tmp)


def _save_network(model: SCOTM, tmp: Path, prefix: str) -> dict[str, str]:
    """One member's weights and OT references into ``tmp``, names with ``prefix``; returns
    the classes of its networks."""
    from safetensors.torch import save_file

    save_file(_weights(model.module), str(tmp / f"{prefix}{WEIGHTS_FILE}"))
    packed_refs = reference.pack(model.references, model.state.perturbations)
    np.savez(tmp / f"{prefix}{TRANSPORT_FILE}", **packed_refs)
    networks = {"module": type(model.module).network_name}
    if model.response is not None:
        networks["response"] = type(model.response).network_name
        save_file(_weights(model.response), str(tmp / f"{prefix}{RESPONSE_FILE}"))
    return networks


class _Reader:
    """Every file of one model directory, read once through the manifest's checks."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_dir():
            raise ScotmInputError(f"{path} is not a directory holding a saved scotm model")
        self.manifest = None
        if os.path.lexists(path / _manifest.MANIFEST_FILE):
            self.manifest = _manifest.read_manifest(path)
        elif not os.path.lexists(path / SETTINGS_FILE):
            raise ScotmInputError(f"{path} is not a saved scotm model (no {SETTINGS_FILE})")

    def bytes(self, name: str) -> bytes:
        if self.manifest is None:
            return _manifest.read_safe_bytes(self.path, name)
        return _manifest.read_verified_bytes(self.path, name, self.manifest)

    def npz(self, name: str):
        return np.load(io.BytesIO(self.bytes(name)), allow_pickle=False)

    def tensors(self, name: str) -> dict:
        from safetensors.torch import load as load_safetensors

        return load_safetensors(self.bytes(name))


def read_meta(path: Path, reader: _Reader | None = None) -> dict[str, Any]:
    """``scotm.json`` of a saved model, checked to be one this scotm reads.

    Examples
    --------
    >>> read_meta(Path("my_model"))["format_version"]  # doctest: +SKIP
    3
    """
    reader = _Reader(path) if reader is None else reader
    meta_file = path / SETTINGS_FILE
    try:
        meta = json.loads(reader.bytes(SETTINGS_FILE))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScotmInputError(f"{meta_file} is corrupt ({exc}); re-save the model") from exc
    if not isinstance(meta, dict) or meta.get("format") != "scotm":
        raise ScotmInputError(f"{path} is not a saved scotm model")
    found = meta.get("format_version")
    if found not in READS:
        raise ScotmInputError(
            f"{path} has model format {found}; this scotm ({version()}) reads formats "
            f"{', '.join(map(str, READS))}: re-train, or use the scotm version that saved it"
        )
    if reader.manifest is None:
        if found >= 3:
            raise ScotmInputError(
                f"saved model at {path} has no {_manifest.MANIFEST_FILE}, which format {found} "
                "always writes: the directory is incomplete; save the model again"
            )
        logger.warning(
            "%s was saved in format %s: its files carry no checksums (re-save it to add them)",
            path,
            found,
        )
    return meta


def _check_references(path: Path, refs: dict, n_latent: int) -> None:
    """Refuse OT references of the wrong shape or with NaN (a checksum cannot tell)."""
    for name, ref in refs.items():
        codes, shifts = np.asarray(ref.codes), np.asarray(ref.shifts)
        if codes.ndim != 2 or codes.shape[1] != n_latent or shifts.shape != codes.shape:
            raise ScotmInputError(
                f"saved model at {path} is damaged: {TRANSPORT_FILE} holds codes "
                f"{codes.shape} and shifts {shifts.shape} for '{name}', but the latent space "
                f"has {n_latent} dimensions; save the model again"
            )
        if not (np.isfinite(codes).all() and np.isfinite(shifts).all()):
            raise ScotmInputError(
                f"saved model at {path} is damaged: {TRANSPORT_FILE} holds NaN or infinite "
                f"codes or shifts for '{name}'; save the model again"
            )


def load(cls: type[SCOTM], path: str | os.PathLike) -> SCOTM:
    """The model saved at ``path``, rebuilt through ``cls(state=...)`` (see :meth:`SCOTM.load`).

    Examples
    --------
    >>> model = load(SCOTM, "my_model/")  # doctest: +SKIP
    """
    from safetensors import SafetensorError

    path = Path(path)
    reader = _Reader(path)
    meta = read_meta(path, reader)
    try:
        table = None
        if meta.get("perturbation_embedding") is not None:
            with reader.npz(EMBEDDINGS_FILE) as emb:
                names, vectors = emb["names"].astype(str), emb["vectors"].astype(np.float32)
                table = dict(zip(names, vectors, strict=True))
        genes = None
        if (meta.get("cell_embedding") or {}).get("kind") == "genept":
            with reader.npz(GENE_PRIOR_FILE) as arrays:
                genes = arrays["vectors"].astype(np.float32)
            want = (len(meta["var_names"]), int(meta["cell_embedding"]["dim"]))
            if genes.shape != want:
                raise ValueError(f"{GENE_PRIOR_FILE} has shape {genes.shape}, not {want}")
        state = ModelState.from_json(meta, table, genes)
        model = _load_network(cls(state=state), reader, "", meta)
        if os.path.lexists(path / blend.BLEND_FILE):
            with reader.npz(blend.BLEND_FILE) as arrays:
                blend.unpack(model, arrays)
        records = meta.get("members", [])
        if len(records) != model.settings.members - 1:
            raise ValueError(
                f"{model.settings.members} members by the settings, {len(records) + 1} saved"
            )
        for m, record in enumerate(records, start=1):
            sib = cls(state=members.member_state(state, m))
            model.siblings.append(_load_network(sib, reader, f"member{m}.", record))
    except (
        KeyError,
        OSError,
        RuntimeError,
        ValueError,
        TypeError,
        EOFError,
        zipfile.BadZipFile,
        SafetensorError,
    ) as exc:
        if isinstance(exc, ScotmInputError):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScotmInputError(f"saved model at {path} is damaged or incompatible: {msg}") from exc
    return model


def _load_network(model: SCOTM, reader: _Reader, prefix: str, record: dict) -> SCOTM:
    """``model`` (built from the saved state) with one member's saved files, trained."""
    model.module.load_state_dict(reader.tensors(f"{prefix}{WEIGHTS_FILE}"))
    if model.response is not None:
        model.response.load_state_dict(reader.tensors(f"{prefix}{RESPONSE_FILE}"))
    with reader.npz(f"{prefix}{TRANSPORT_FILE}") as arrays:
        refs = reference.unpack(arrays, model.state.perturbations)
    _check_references(reader.path, refs, model.settings.n_latent)
    model.trained(refs, record.get("history", []), record.get("response_history", []))
    model.train_info = record.get("train_info", {})
    return model
