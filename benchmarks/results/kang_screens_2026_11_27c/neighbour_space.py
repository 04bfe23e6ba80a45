"""Ad-hoc screen: in which space should a held-out cell find the training cells it borrows from?

On the saved fold models (``_screen.py``), the held-out control cells take the default's shift
(k = 30, per-type weights; the reference's OT shifts unchanged) with neighbours found by
cosine similarity in:

- ``default``: the codes (as ``SCOTM.predict``);
- ``genept``: the GenePT cell prior (the fixed expression-weighted gene-description
  embedding the encoder reads);
- ``concat``: codes and prior, each scaled to unit norm per cell, side by side;
- ``mix``: the mean of the default's shift and the GenePT-neighbour shift.

    python benchmarks/results/kang_screens_2026_11_27c/neighbour_space.py --seeds 0 1 --out OUT
"""

from __future__ import annotations

import numpy as np
from _screen import cli, decoded


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)


def variants(model, fold, z):
    from scotm import transport
    from scotm.model.predict import transfer

    ref = model.references[model.perturbations[0]]
    e_q = model.cell_embedding_of(fold.ctrl).astype(np.float64)
    e_r = model.cell_embedding_of(fold.train[list(ref.obs_names)]).astype(np.float64)
    codes, shifts = ref.codes.astype(np.float64), ref.shifts.astype(np.float64)
    w = transport.group_balance(ref.cell_types)
    k = model.settings.k
    default, _ = transfer(ref, z, model.settings)
    genept = transport.transfer_shifts(e_q, e_r, shifts, k, ref_weights=w)[0]
    cq, cr = np.hstack([unit(z), unit(e_q)]), np.hstack([unit(codes), unit(e_r)])
    concat = transport.transfer_shifts(cq, cr, shifts, k, ref_weights=w)[0]
    shifts_by = {"default": default, "genept": genept, "concat": concat,
                 "mix": 0.5 * (default + genept)}  # fmt: skip
    return {name: (decoded(model, fold, z, s), {}) for name, s in shifts_by.items()}


if __name__ == "__main__":
    cli(variants)
