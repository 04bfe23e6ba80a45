"""Do GenePT cell embeddings from gene-set text carry cell identity? A check on Kang.

    python benchmarks/genept_signal.py

Kang is prepared as EVALUATION.md pins (2,000 HVGs). Cells are embedded two ways, with the
same expression weights and the same dimension (384):

- ``text``: GenePT with all-MiniLM-L6-v2 embeddings of each gene's MSigDB description;
- ``random``: GenePT with random Gaussian gene vectors (seed 0), a control that shows what
  any expression-weighted projection keeps.

For each, the 5-fold cross-validated accuracy of a 15-nearest-neighbour classifier (on
standardised embeddings) predicting ``cell_type`` and ``condition``. The text embeddings of
the genes come from the cache when ``benchmarks/embed_cost.py`` or ``scotm embed`` ran before.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

import scotm
from scotm import priors


def _z(X: np.ndarray) -> np.ndarray:
    return (X - X.mean(0)) / (X.std(0) + 1e-8)


def main() -> None:
    adata = scotm.pp.prepare(scotm.datasets.kang())
    text = priors.genept(adata.copy()).obsm["X_genept"]
    rng = np.random.default_rng(0)
    random = priors.cell_embedding(adata, rng.normal(size=(adata.n_vars, text.shape[1])))
    print(f"{adata.n_obs} cells, {adata.n_vars} genes, {text.shape[1]}-d")
    corr = np.corrcoef(text[:200])[np.triu_indices(200, k=1)].mean()
    print(f"mean Pearson r between the text vectors of the first 200 cells: {corr:.3f}")
    print("label       text   random")
    for label in ("cell_type", "condition"):
        y = adata.obs[label].astype(str).to_numpy()
        scores = [
            cross_val_score(KNeighborsClassifier(15), _z(X), y, cv=5).mean() for X in (text, random)
        ]
        print(f"{label:<10}  {scores[0]:.3f}  {scores[1]:.3f}")


if __name__ == "__main__":
    main()
