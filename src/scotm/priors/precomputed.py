"""Embeddings computed elsewhere: an ``obsm`` entry (scGPT, ...) or a table keyed by name."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import ScotmInputError
from .base import Embedder, check_items


def from_obsm(adata: ad.AnnData, key: str = "X_scGPT") -> np.ndarray:
    """A precomputed cell embedding from ``adata.obsm[key]`` as float32 ``(n_obs, d)``.

    Parameters
    ----------
    adata
        Cells that carry the embedding, e.g. scGPT's ``X_scGPT``.
    key
        The ``obsm`` key.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> from scotm.priors import from_obsm
    >>> a = ad.AnnData(np.zeros((3, 2)), obsm={"X_scGPT": np.ones((3, 4))})
    >>> from_obsm(a, "X_scGPT").shape
    (3, 4)
    """
    if key not in adata.obsm:
        have = ", ".join(adata.obsm.keys()) or "none"
        raise ScotmInputError(
            f"no obsm['{key}'] in the data; its obsm keys are: {have}; compute the embedding "
            "first (e.g. scGPT's embed_data, or scotm embed) or pick another key"
        )
    X = adata.obsm[key]
    X = X.to_numpy() if isinstance(X, pd.DataFrame) else X
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ScotmInputError(f"obsm['{key}'] is not a numeric matrix (shape {X.shape})")
    X = X.astype(np.float32)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ScotmInputError(
            f"obsm['{key}'] holds NaN or infinite values in {int(bad.sum())} of {len(X)} cells; "
            "recompute the embedding or drop those cells"
        )
    return X


def read_table(
    path: str | os.PathLike, *, header: bool = True, what: str = "table"
) -> pd.DataFrame:
    """Read a CSV/TSV or parquet table, turning unreadable files into a ScotmInputError.

    Parameters
    ----------
    path
        ``.csv``, ``.tsv``/``.tab`` or ``.parquet``/``.pq``.
    header
        The CSV's first row names the columns; without it they are named ``"0"``, ``"1"``...
    what
        How error messages name the file (e.g. ``"--perturbation-embeddings"``).

    Examples
    --------
    >>> from scotm.priors import read_table
    >>> read_table("drugs.csv", header=False).columns.tolist()  # doctest: +SKIP
    ['0', '1', '2']
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ScotmInputError(f"{what} file {p} does not exist")
    if p.is_dir():
        raise ScotmInputError(f"{what} {p} is a directory, not a CSV or parquet file")
    try:
        if p.suffix.lower() in {".parquet", ".pq"}:
            df = pd.read_parquet(p)
        else:
            sep = "\t" if p.suffix.lower() in {".tsv", ".tab"} else ","
            df = pd.read_csv(p, sep=sep, header=0 if header else None)
    except ImportError as exc:
        raise ScotmInputError(
            f"reading parquet {p} needs pyarrow; install it with: pip install 'scotm[priors]'"
        ) from exc
    except Exception as exc:  # parser errors, bad bytes, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScotmInputError(f"cannot read {what} {p} ({reason})") from exc
    df.columns = [str(c) for c in df.columns]
    return df


class TableEmbedder(Embedder):
    """Precomputed perturbation embeddings: one row per name in a CSV/parquet table.

    Parameters
    ----------
    table
        A DataFrame or a path to a CSV/TSV/parquet file.
    name_column
        Column holding the names; ``None`` uses the index (for a DataFrame) or the first
        column (for a file).
    columns
        Vector columns; default every numeric column except ``name_column``.

    Examples
    --------
    >>> import pandas as pd
    >>> from scotm.priors import TableEmbedder
    >>> t = pd.DataFrame({"name": ["IFNB1", "DMSO"], "e0": [1.0, 0.0], "e1": [0.5, 0.0]})
    >>> TableEmbedder(t, name_column="name").embed(["DMSO", "IFNB1"]).tolist()
    [[0.0, 0.0], [1.0, 0.5]]
    """

    cache_default = False  # a lookup; nothing to save

    def __init__(
        self,
        table: pd.DataFrame | str | os.PathLike,
        *,
        name_column: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> None:
        if isinstance(table, pd.DataFrame):
            df = table.copy()
            df.columns = [str(c) for c in df.columns]
            self.name = "table"
        else:
            df = read_table(table)
            self.name = Path(table).name
            if name_column is None:
                name_column = df.columns[0]
        if name_column is not None:
            if name_column not in df.columns:
                raise ScotmInputError(
                    f"name column '{name_column}' not in the table; its columns are: "
                    f"{', '.join(df.columns[:20])}"
                )
            df = df.set_index(name_column)
        df.index = df.index.astype(str)
        if columns is None:
            columns = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ScotmInputError(f"table has no column(s) {', '.join(missing[:5])}")
        if not columns:
            raise ScotmInputError("table has no numeric columns to use as embedding vectors")
        dup = df.index[df.index.duplicated()].unique()
        if len(dup):
            raise ScotmInputError(
                f"table has {len(dup)} duplicated name(s) (e.g. {dup[0]!r}); keep one row a name"
            )
        values = df[list(columns)].to_numpy(dtype=np.float32)
        if not np.isfinite(values).all():
            raise ScotmInputError("table holds NaN or infinite embedding values; fix them first")
        self.table = pd.DataFrame(values, index=df.index, columns=list(columns))

    def _dim(self) -> int:
        return self.table.shape[1]

    def embed(self, items: Sequence[str], *, cache: bool | None = None) -> np.ndarray:
        items = check_items(items, "names")
        missing = [x for x in dict.fromkeys(items) if x not in self.table.index]
        if missing:
            raise ScotmInputError(
                f"{len(missing)} name(s) missing from the embedding table {self.name} (e.g. "
                f"{', '.join(missing[:5])}); it has {len(self.table)} names such as "
                f"{', '.join(self.table.index[:3])}"
            )
        return self.table.loc[items].to_numpy(dtype=np.float32).reshape(len(items), self.dim)
