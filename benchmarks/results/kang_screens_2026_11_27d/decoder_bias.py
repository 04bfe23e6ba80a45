"""Ad-hoc screen: correct the prediction's mean by the decoder's error on the source types.

NK cells' response comes out too small even from their own OT shift (the oracle), so the
gap is in decoding. If the decoder errs the same way on the training types a cell borrows
from, that error is measurable without the held-out cells: for each training type ``t``,
decode its own control cells under their own OT shifts (as a prediction is decoded) and take
``r_t = mean(real perturbed t) - mean(decoded t)`` per gene. The held-out prediction then
gets ``sum_t share_t * r_t`` added to every cell (``share_t``: the type's share of the
neighbour weights), at weight 1 or 0.5. Only the scoring sees the held-out perturbed cells.

    python benchmarks/results/kang_screens_2026_11_27d/decoder_bias.py --seeds 0 --out OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kang_screens_2026_11_27c"))
from _screen import cli, decoded  # noqa: E402


def type_errors(model, fold) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Per training type: the decoder's mean error per gene, and the size of the response
    it decodes against the real one (a least-squares slope over all genes)."""
    from scotm._arrays import dense
    from scotm.model.conditional import predict_expression
    from scotm.model.predict import zero_below

    pert = model.perturbations[0]
    ref = model.references[pert]
    train, cond = fold.train, fold.train.obs["condition"].astype(str).to_numpy()
    types = train.obs["cell_type"].astype(str).to_numpy()
    errors, slopes = {}, {}
    for t in np.unique(ref.cell_types):
        rows = ref.cell_types == t
        ctrl = train[ref.obs_names[rows]]
        X = dense(ctrl.X)
        # decoded as a prediction is (``_screen.decoded``), at the type's own codes and shifts
        pred = predict_expression(model, X, ref.codes[rows], ref.shifts[rows], pert)[0]
        pred = zero_below(pred, model.settings.zero_below)
        real = dense(train[(cond == pert) & (types == t)].X).mean(0)
        errors[str(t)] = real - pred.mean(0)
        d_real, d_pred = real - X.mean(0), pred.mean(0) - X.mean(0)
        slopes[str(t)] = float(d_pred @ d_real / (d_real @ d_real))
    return errors, slopes


def variants(model, fold, z):
    from scotm.model.predict import transfer

    shift, shares = transfer(model.references[model.perturbations[0]], z, model.settings)
    X0 = decoded(model, fold, z, shift)
    errors, slopes = type_errors(model, fold)
    corr = sum(w * errors[t] for t, w in shares.items())
    extra = {f"slope_{t}": round(s, 3) for t, s in slopes.items()}
    extra["corr_norm"] = float(np.linalg.norm(corr))
    out = {"default": X0}
    for label, weight in (("bias1", 1.0), ("bias05", 0.5)):
        out[label] = np.clip(X0 + weight * corr, 0.0, None)
    return {name: (X, extra) for name, X in out.items()}


if __name__ == "__main__":
    cli(variants)
