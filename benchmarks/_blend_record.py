"""What the small-data benchmarks keep beside the metrics, to compare blend-weight rules.

For every task: the inner-validation scores (training types x :data:`scotm.model.blend.GRID`)
of each blend, and per prediction input the per-gene means of the model's prediction, of each
masked linear prediction, of the input control cells and of the real perturbed cells, with the
DEG indices. ``r2_mean_deg`` and ``delta_r_deg`` depend on the means alone and the blend is
linear in its weight, so any weight's two headline metrics follow from these arrays
(``benchmarks/blend_rules.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: benchmark method -> the post-training settings of the trained model's variant (the
#: blends, and the neighbours weighted by similarity alone, as before ``neighbour_weights``)
BLENDS = {
    "scotm_noblend": {"blend": "none"},
    "scotm_blend_pca": {"blend": "pca_ot"},
    "scotm_blend_mean": {"blend": "mean_shift"},
    "scotm_blend_shared": {"blend": "pca_ot", "blend_validation": "shared"},
    "scotm_similarity": {"neighbour_weights": "similarity"},
}


def _mean(X) -> np.ndarray:
    return np.asarray(X.mean(0), dtype=np.float64).ravel()


def record(path: Path, model, name: str, inputs: dict, real, degs) -> None:
    """Write ``path`` (npz) for trained ``model``, perturbation ``name`` and its inputs."""
    from scotm._arrays import dense
    from scotm.model import blend

    genes = np.asarray(real.var_names)
    out = {"real": _mean(real.X), "degs": np.flatnonzero(np.isin(genes, list(degs)))}
    alone = model.variant(blend="none")  # the model's own prediction, whatever its blend
    for kind in ("pca_ot", "mean_shift"):
        v = model.variant(blend=kind)  # inner scores as the model's blend_validation says
        scores, _ = blend.inner_scores(v, name)
        out[f"inner_{kind}"] = scores
        lin = blend._linear(v, name)
        for level, ctrl in inputs.items():
            pred = np.asarray(alone.predict(ctrl, name).X, dtype=np.float64)
            X = dense(ctrl.X).astype(np.float64)
            out[f"{level}|model"] = pred.mean(0)
            out[f"{level}|ctrl"] = X.mean(0)
            out[f"{level}|{kind}"] = blend._masked(lin.predict(X, kind), pred).mean(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
