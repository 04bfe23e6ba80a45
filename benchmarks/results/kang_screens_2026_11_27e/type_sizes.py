"""How large each cell type's real response is on another type's top DEGs (real cells only).

For each type h and its top-100 DEGs (real perturbed vs control of h), the slope of every
other type's real mean change on h's (1 = the same size), and of the mean of the others'
changes (what mean_shift transfers).
    python type_sizes.py
"""

import numpy as np

import scotm
from scotm import effects, metrics
from scotm._arrays import dense64

adata = scotm.pp.prepare(scotm.datasets.kang())
cell_type = adata.obs["cell_type"].astype(str).to_numpy()
ctrl = adata.obs["condition"].astype(str).to_numpy() == "control"
types = sorted(set(cell_type))
X = dense64(adata.X)
response = effects.means(X[~ctrl], cell_type[~ctrl], types) - effects.means(
    X[ctrl], cell_type[ctrl], types
)
change = dict(zip(types, response.to_numpy(), strict=True))
for h in types:
    gi = adata.var_names.get_indexer(
        metrics.top_degs(adata[(cell_type == h) & ctrl], adata[(cell_type == h) & ~ctrl])
    )
    own = change[h][gi]
    others = [t for t in types if t != h]
    sizes = " ".join(f"{t}: {change[t][gi] @ own / (own @ own):.2f}," for t in others)
    mean = np.mean([change[t][gi] for t in others], 0) @ own / (own @ own)
    print(f"{h} | {sizes} | mean of the others {mean:.2f}")
