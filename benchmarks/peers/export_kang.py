"""Export the preprocessed Kang data for peers that run in their own virtual environments.

Run from scotm's venv. Writes the pinned preprocessing of EVALUATION.md
(``scotm.pp.prepare(scotm.datasets.kang())``: normalize_total 1e4, log1p, 2,000 seurat HVGs on
all cells) as a plain h5ad: X log-normalised float32 CSR, obs ``condition`` and ``cell_type``,
the 2,000 gene names as var_names. A peer loads this file, so it never needs scotm installed.

    python benchmarks/peers/export_kang.py --out /tmp/scotm_peers/kang_prepared.h5ad
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import anndata as ad
import pandas as pd

import scotm
from scotm.pp import prepare


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="h5ad path to write")
    args = parser.parse_args(argv)

    adata = prepare(scotm.datasets.kang())
    obs = pd.DataFrame(
        {
            "condition": pd.Categorical(adata.obs["condition"].astype(str)),
            "cell_type": pd.Categorical(adata.obs["cell_type"].astype(str)),
        },
        index=adata.obs_names.astype(str),
    )
    var = pd.DataFrame(index=adata.var_names.astype(str))
    out = ad.AnnData(X=adata.X, obs=obs, var=var)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.write_h5ad(args.out)
    genes_sha = hashlib.sha256("\n".join(out.var_names).encode()).hexdigest()
    info = {"shape": list(out.shape), "genes_sha256": genes_sha, "scotm": scotm.__version__}
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    print(f"wrote {args.out}: {out.n_obs} cells x {out.n_vars} genes")


if __name__ == "__main__":
    main()
