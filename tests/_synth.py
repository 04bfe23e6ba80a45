"""Small synthetic data sets with a known answer."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp


def synthetic_counts(
    n_per: int = 20,
    n_genes: int = 60,
    types: tuple[str, ...] = ("A", "B", "C"),
    n_response: int = 10,
    seed: int = 0,
    sparse: bool = False,
) -> ad.AnnData:
    """Raw Poisson counts: each type its own expression profile; stimulation multiplies the
    first ``n_response`` genes by 4 in every type. ``n_per`` cells per type and condition."""
    rng = np.random.default_rng(seed)
    blocks, obs = [], []
    for t in types:
        rate = rng.gamma(2.0, 2.0, n_genes)
        for cond in ("control", "stimulated"):
            r = rate.copy()
            if cond == "stimulated":
                r[:n_response] *= 4.0
            blocks.append(rng.poisson(r, size=(n_per, n_genes)))
            obs += [(cond, t)] * n_per
    X = np.vstack(blocks).astype(np.float32)
    index = [f"cell{i}" for i in range(len(obs))]
    adata = ad.AnnData(
        X=sp.csr_matrix(X) if sparse else X,
        obs=pd.DataFrame(obs, columns=["condition", "cell_type"], index=index),
    )
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    return adata
