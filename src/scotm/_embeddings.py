"""Prior embeddings as the model takes them: checked plain arrays, never the embedders.

The embedders themselves (text models, fingerprints, GenePT cells) live in ``scotm.priors``;
the model only needs

- a cell embedding: an ``obsm`` key holding one row per cell;
- a perturbation embedding table: name -> vector, from a mapping, a DataFrame indexed by
  name, or a CSV file (first column the name, the rest the vector).

Every check here fails with one line saying what is wrong and how to fix it.

>>> names, M = perturbation_table({"drugA": [0.0, 1.0], "drugB": [1.0, 0.0]})
>>> names, M.shape
(['drugA', 'drugB'], (2, 2))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from ._errors import ScotmInputError

PerturbationEmbeddings = Mapping[str, Any] | pd.DataFrame


def perturbation_table(
    embeddings: PerturbationEmbeddings, what: str = "perturbation_embeddings"
) -> tuple[list[str], np.ndarray]:
    """Names and a float32 ``(n, d)`` matrix from a mapping or a DataFrame indexed by name.

    Raises :class:`ScotmInputError` on an empty table, vectors of different widths,
    non-numeric or non-finite values, or duplicated names.
    """
    if isinstance(embeddings, pd.DataFrame):
        names = [str(n) for n in embeddings.index]
        try:
            M = embeddings.to_numpy(dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ScotmInputError(
                f"{what} holds non-numeric values; every column but the name must be a number"
            ) from exc
    elif isinstance(embeddings, Mapping):
        names = [str(n) for n in embeddings]
        rows = []
        for n, v in embeddings.items():
            try:
                rows.append(np.asarray(v, dtype=np.float32).ravel())
            except (TypeError, ValueError) as exc:
                raise ScotmInputError(f"{what}['{n}'] is not a numeric vector") from exc
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise ScotmInputError(
                f"{what} vectors have different widths ({', '.join(map(str, sorted(widths)))}); "
                "every perturbation needs a vector of the same width"
            )
        M = np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
    else:
        raise ScotmInputError(
            f"{what} must be a mapping name -> vector or a DataFrame indexed by name, "
            f"not {type(embeddings).__name__}"
        )
    if M.shape[0] == 0 or M.shape[1] == 0:
        raise ScotmInputError(f"{what} is empty; give one vector per perturbation")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ScotmInputError(f"{what} names a perturbation twice ({', '.join(dup[:5])})")
    bad = ~np.isfinite(M).all(axis=1)
    if bad.any():
        listed = ", ".join(np.asarray(names)[bad][:5])
        raise ScotmInputError(
            f"{what} holds NaN or infinite values for {int(bad.sum())} perturbation(s) "
            f"(e.g. {listed}); fix or drop those rows"
        )
    return names, M


def read_perturbation_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a perturbation embedding CSV: first column the name, the rest the vector.

    A header row is optional: a first row whose values are not all numbers is taken as one.
    """
    from .priors.precomputed import read_table  # the one reader of embedding tables

    df = read_table(path, header=False, what="--perturbation-embeddings")
    df = df.set_index(df.columns[0])
    if df.shape[1] == 0:
        raise ScotmInputError(f"{path} has no vector columns; write name,v1,v2,... per line")
    first = pd.to_numeric(df.iloc[0], errors="coerce")
    if first.isna().all():  # a header row
        df = df.iloc[1:]
    try:
        df = df.apply(pd.to_numeric, errors="raise")
    except (TypeError, ValueError) as exc:
        raise ScotmInputError(
            f"{path} holds non-numeric values; every column but the first must be a number"
        ) from exc
    df.index = df.index.astype(str)
    perturbation_table(df, what=f"--perturbation-embeddings {path}")  # fail early, clearly
    return df


def cell_embedding(
    adata: ad.AnnData, key: str, dim: int | None = None, what: str = "the data"
) -> np.ndarray:
    """``adata.obsm[key]`` as a float32 ``(n_cells, d)`` array, checked.

    ``dim`` is the width the model was trained with; a different width is refused.
    """
    if key not in adata.obsm:
        have = ", ".join(map(str, adata.obsm.keys())) or "(none)"
        raise ScotmInputError(
            f"cell embedding obsm['{key}'] not found in {what} (obsm has: {have}); compute it "
            f"as for training (e.g. scotm embed) or set --cell-embedding-key"
        )
    from .priors.precomputed import from_obsm  # the one reader of obsm embeddings

    E = from_obsm(adata, key)
    if dim is not None and E.shape[1] != dim:
        raise ScotmInputError(
            f"obsm['{key}'] has width {E.shape[1]} but the model was trained with width {dim}; "
            "use the same embedding model as for training"
        )
    return E
