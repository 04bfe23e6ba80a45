"""Small synthetic data sets with a known answer."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

#: how closely two predictions of one model must agree (after a save and load, or through
#: another code path). Both sides are computed in one test process, yet computed floats may
#: differ in the last bits between CPU models and thread counts, so no test asks for bits.
PRED_TOL = {"rtol": 1e-6, "atol": 1e-6}
#: how closely an array copied without arithmetic (saved and read back, parsed from a literal)
#: must match its source: within one float32 rounding step (6e-8 of the value), so no test
#: rests on the float bits of a CPU model, and any real change still fails
COPY_TOL = {"rtol": 1e-7, "atol": 0.0}
#: how closely two runs of one computation must agree when the second adds its floats in
#: another order: cells predicted in other batches, training resumed from a checkpoint or
#: read from disk in other chunks. Each step rounds anew, so this is wider than PRED_TOL
RERUN_TOL = {"rtol": 1e-5, "atol": 1e-5}


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


def multi_drug_counts(
    n_per: int = 15,
    n_genes: int = 30,
    types: tuple[str, ...] = ("A", "B", "C"),
    n_drugs: int = 8,
    seed: int = 0,
) -> tuple[ad.AnnData, dict[str, np.ndarray]]:
    """Raw Poisson counts for several drugs whose effect is a known function of an embedding.

    Drug ``j`` has a 3-d embedding ``e_j``; its log-fold change on the genes is
    ``e_j @ programs`` (three fixed gene programs), scaled per cell type. Returns the data
    (``obs['condition']`` control or ``drug0`` ..., ``obs['cell_type']``) and the embeddings.
    """
    rng = np.random.default_rng(seed)
    programs = np.zeros((3, n_genes))
    for k in range(3):
        programs[k, k * 5 : k * 5 + 5] = 1.2
    emb = {f"drug{j}": rng.uniform(-1, 1, 3) for j in range(n_drugs)}
    blocks, obs = [], []
    for t in types:
        rate = rng.gamma(2.0, 2.0, n_genes) + 1.0
        scale = rng.uniform(0.8, 1.2)
        for cond in ("control", *emb):
            lfc = 0.0 if cond == "control" else scale * emb[cond] @ programs
            blocks.append(rng.poisson(rate * np.exp(lfc), size=(n_per, n_genes)))
            obs += [(cond, t)] * n_per
    X = np.vstack(blocks).astype(np.float32)
    adata = ad.AnnData(
        X=X,
        obs=pd.DataFrame(
            obs, columns=["condition", "cell_type"], index=[f"c{i}" for i in range(len(obs))]
        ),
    )
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    return adata, emb


def toy_fold(seed: int = 1, holdout: str = "type2"):
    """``scotm.datasets.toy`` (600 cells, 60 genes), log-normalised, ``holdout`` held out: the
    fold the model tests train on."""
    import scotm
    from scotm.benchmark import Keys, holdout_split

    adata = scotm.datasets.toy(n_cells=600, n_genes=60, seed=seed)
    return holdout_split(scotm.pp.prepare(adata, n_top_genes=None), holdout, Keys())
