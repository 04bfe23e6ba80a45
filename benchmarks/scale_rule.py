"""The two signs of scotm's counts-vs-log rule on Kang and the forms users hand over.

    python benchmarks/scale_rule.py

For Kang's counts and variants (log1p, HVG subsets, CPM, rounded or truncated logs, clipped
or downsampled counts) prints: integer-valued?, max, the s.d. and median of log10 of each
cell's sum(expm1(x)), the share of 1s among non-zero values, the share of cells (with >= 10
non-zero genes) without a 1, and what :func:`scotm.validate.detect_scale` says.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from scotm import datasets, validate
from scotm._errors import ScotmInputError


def _map(X: sp.csr_matrix, fn) -> sp.csr_matrix:
    X = X.copy()
    X.data = fn(X.data)
    X.eliminate_zeros()
    return X


def main() -> None:
    X = datasets.kang().X.tocsr().astype(np.float64)
    lib = np.asarray(X.sum(1)).ravel()
    norm = sp.diags(1e4 / lib) @ X
    log = _map(norm, np.log1p)
    hvg = sc.pp.highly_variable_genes(ad.AnnData(log), n_top_genes=2000, inplace=False)
    keep = hvg["highly_variable"].to_numpy()
    rng = np.random.default_rng(0)
    variants = {
        "counts": X,
        "counts, 2000 HVGs": X[:, keep],
        "counts clipped at 15": _map(X[:, keep], lambda d: np.minimum(d, 15)),
        "counts downsampled 2%": _map(X, lambda d: rng.binomial(d.astype(int), 0.02) * 1.0),
        "log1p(1e4)": log,
        "log1p(1e4), 2000 HVGs": log[:, keep],
        "log1p(CPM)": _map(sp.diags(1e6 / lib) @ X, np.log1p),
        "normalize_total(1e4) only": norm,
        "CPM": sp.diags(1e6 / lib) @ X,
        "log1p(1e4) rounded": _map(log, np.round),
        "log1p(1e4) truncated": _map(log, np.floor),
        "log1p(1e4) HVGs rounded": _map(log[:, keep], np.round),
        "log1p(CPM) rounded": _map(_map(sp.diags(1e6 / lib) @ X, np.log1p), np.round),
    }
    head = (
        f"{'variant':<28}{'int':>5}{'max':>11}{'sd':>7}{'median':>8}{'1s':>6}{'no 1':>6}  verdict"
    )
    print(head)
    for name, M in variants.items():
        s = validate.matrix_stats(M)
        live = s.row_sums > 0
        with np.errstate(divide="ignore"):
            le = np.log10(s.row_expm1[live])
        rich = s.row_nnz >= 10
        no_ones = np.mean(s.row_min[rich] > 1)
        try:
            verdict = validate.detect_scale(ad.AnnData(M))
        except ScotmInputError as exc:
            verdict = "refused: " + str(exc).split(" (")[0].removeprefix("X ")
        sd = f"{le.std():7.3f}" if s.vmax <= 30 else f"{'-':>7}"
        med = f"{np.median(le):8.2f}" if s.vmax <= 30 else f"{'-':>8}"
        print(
            f"{name:<28}{'yes' if s.all_integer else 'no':>5}{s.vmax:11.4g}{sd}{med}"
            f"{s.n_ones / s.n_nonzero:6.2f}{no_ones:6.2f}  {verdict}"
        )


if __name__ == "__main__":
    main()
