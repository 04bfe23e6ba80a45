"""Small molecules from SMILES: RDKit Morgan fingerprints, or a chemical language model."""

from __future__ import annotations

import os

import numpy as np

from .._errors import ScotmInputError
from ._deps import require
from ._hf import TransformerEmbedder
from .base import Embedder


class MorganFingerprint(Embedder):
    """RDKit Morgan (ECFP-like) bit fingerprints of SMILES strings, offline.

    Parameters
    ----------
    radius
        Morgan radius (2 gives ECFP4-like bits).
    n_bits
        Fingerprint length: ``dim``.

    Examples
    --------
    >>> from scotm.priors import MorganFingerprint
    >>> fp = MorganFingerprint()
    >>> fp.embed(["CCO", "c1ccccc1"]).shape  # doctest: +SKIP
    (2, 2048)
    """

    cache_default = False  # cheaper to compute than to read back

    def __init__(self, radius: int = 2, n_bits: int = 2048) -> None:
        if radius < 0 or n_bits < 1:
            raise ScotmInputError(
                f"Morgan radius must be >= 0 and n_bits >= 1, got {radius}, {n_bits}"
            )
        self.radius = int(radius)
        self.n_bits = int(n_bits)
        self.name = f"morgan-r{self.radius}-{self.n_bits}"

    def _dim(self) -> int:
        return self.n_bits

    def identity(self) -> str:
        return self.name

    def _compute(self, items: list[str]) -> np.ndarray:
        chem = require("rdkit.Chem", "Morgan fingerprints")
        gen_mod = require("rdkit.Chem.rdFingerprintGenerator", "Morgan fingerprints")
        from rdkit import RDLogger

        RDLogger.DisableLog("rdApp.*")  # parse errors become our one-line error instead
        gen = gen_mod.GetMorganGenerator(radius=self.radius, fpSize=self.n_bits)
        out = np.zeros((len(items), self.n_bits), dtype=np.float32)
        for i, smi in enumerate(items):
            mol = chem.MolFromSmiles(smi) if smi.strip() else None
            if mol is None:
                raise ScotmInputError(
                    f"invalid SMILES {smi!r} (item {i + 1} of {len(items)}): RDKit cannot parse "
                    "it; fix or drop it"
                )
            out[i] = gen.GetFingerprintAsNumPy(mol)
        return out


class SmilesLM(TransformerEmbedder):
    """A chemical language model (ChemBERTa / MolFormer style) from a local directory.

    Parameters
    ----------
    model_path
        A directory saved with ``save_pretrained``: config, weights, tokenizer.
    pooling
        ``"cls"`` (first token) or ``"mean"`` (mean over non-padding tokens).
    **kwargs
        ``max_length``, ``batch_size``, ``device``: see :class:`TransformerEmbedder`.

    Examples
    --------
    >>> from scotm.priors import SmilesLM
    >>> lm = SmilesLM("models/ChemBERTa-77M-MLM", pooling="mean")  # doctest: +SKIP
    >>> lm.embed(["CCO"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, model_path: str | os.PathLike, *, pooling: str = "cls", **kwargs) -> None:
        super().__init__(model_path, pooling=pooling, what="SMILES", **kwargs)
