"""Transformers encoders (SMILES and protein language models) from a local directory.

One class does the loading, batching and pooling; :mod:`.smiles` and :mod:`.protein` set
the defaults that fit each kind of model.
"""

from __future__ import annotations

import os

import numpy as np

from .._errors import ScotmInputError
from ._deps import require
from .base import Embedder, fingerprint_dir, model_dir

POOLINGS = ("cls", "mean")
#: a tokenizer saved with save_pretrained leaves at least one of these
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "*.model")


class TransformerEmbedder(Embedder):
    """A ``transformers`` encoder (``AutoTokenizer`` + ``AutoModel``) from a local directory.

    Parameters
    ----------
    model_path
        A directory saved with ``save_pretrained`` (config, weights and tokenizer files).
    pooling
        ``"cls"``: the first token's last hidden state. ``"mean"``: the mean of the last
        hidden states over the tokens kept (see ``exclude_special``); padding never counts.
    exclude_special
        With mean pooling, also leave out special tokens (``<cls>``, ``<eos>``, ...).
    max_length
        Longer inputs are truncated to this many tokens (default: the tokenizer's limit).
    batch_size
        Inputs per forward pass.
    device
        Torch device (``"cpu"`` by default).
    what
        What kind of model this is, for messages.

    Examples
    --------
    >>> from scotm.priors import TransformerEmbedder
    >>> enc = TransformerEmbedder("models/my-encoder", pooling="mean")  # doctest: +SKIP
    >>> enc.embed(["some input"]).shape  # doctest: +SKIP
    (1, 768)
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        pooling: str = "cls",
        exclude_special: bool = False,
        max_length: int | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        what: str = "transformers",
    ) -> None:
        if pooling not in POOLINGS:
            raise ScotmInputError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.what = what
        self.path = model_dir(model_path, what)
        self.name = self.path.name
        self.pooling = pooling
        self.exclude_special = bool(exclude_special)
        self.max_length = max_length
        self.batch_size = int(batch_size)
        self.device = device
        self._tokenizer = None
        self._model = None

    def _load(self) -> None:
        if self._model is not None:
            return
        tf = require("transformers", f"{self.what} language models")
        if not any(next(self.path.glob(pattern), None) for pattern in TOKENIZER_FILES):
            raise ScotmInputError(
                f"{self.what} model directory {self.path} has no tokenizer files "
                f"({', '.join(TOKENIZER_FILES)}); save the tokenizer there too (save_pretrained)"
            )
        try:
            self._tokenizer = tf.AutoTokenizer.from_pretrained(
                str(self.path), local_files_only=True
            )
            model = tf.AutoModel.from_pretrained(str(self.path), local_files_only=True)
        except Exception as exc:  # missing tokenizer files, unknown architecture, ...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ScotmInputError(
                f"cannot load a {self.what} model from {self.path} ({type(exc).__name__}: "
                f"{reason}); it needs config, weights and tokenizer files from save_pretrained"
            ) from exc
        if len(self._tokenizer) <= len(set(self._tokenizer.all_special_ids)):
            raise ScotmInputError(
                f"the tokenizer in {self.path} has no vocabulary beyond its special tokens; "
                "save the model's own tokenizer there (save_pretrained)"
            )
        self._model = model.to(self.device).eval()

    def _dim(self) -> int:
        tf = require("transformers", f"{self.what} language models")
        config = tf.AutoConfig.from_pretrained(str(self.path), local_files_only=True)
        return int(config.hidden_size)

    def identity(self) -> str:
        return (
            f"hf|{self.what}|{self.name}|{fingerprint_dir(self.path)}|pooling={self.pooling}"
            f"|exclude_special={self.exclude_special}|max_length={self.max_length}"
        )

    def _compute(self, items: list[str]) -> np.ndarray:
        import torch

        self._load()
        tok = self._tokenizer
        max_length = self.max_length or self._default_max_length()
        out = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                enc = tok(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                    return_special_tokens_mask=True,
                )
                special = enc.pop("special_tokens_mask")
                enc = {k: v.to(self.device) for k, v in enc.items()}
                hidden = self._model(**enc).last_hidden_state
                out.append(self._pool(hidden, enc["attention_mask"], special.to(self.device)))
        return torch.cat(out).float().cpu().numpy()

    def _default_max_length(self) -> int:
        """The tokenizer's limit; without one, what the position embeddings allow."""
        limit = int(self._tokenizer.model_max_length)
        if limit < 100_000:  # tokenizers without a limit report about 1e30
            return limit
        positions = getattr(self._model.config, "max_position_embeddings", None)
        # RoBERTa-style models offset positions by the padding index: keep a margin of 2
        return int(positions) - 2 if positions else 512

    def _pool(self, hidden, attention_mask, special_mask):
        if self.pooling == "cls":
            return hidden[:, 0]
        keep = attention_mask.bool()
        if self.exclude_special:
            keep = keep & ~special_mask.bool()
        # an input of only special tokens (an empty string) falls back to every real token
        empty = keep.sum(1) == 0
        keep[empty] = attention_mask.bool()[empty]
        w = keep.to(hidden.dtype).unsqueeze(-1)
        return (hidden * w).sum(1) / w.sum(1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r}, pooling={self.pooling!r})"
