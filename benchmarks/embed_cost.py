"""What the text-model priors cost on Kang: the 2,000 HVG gene descriptions and GenePT cells.

    python benchmarks/embed_cost.py [--out benchmarks/results/embed_cost.json]

Runs the same job twice, each in a fresh Python process so that each has its own peak
memory: first with an empty embedding cache (cold: the text model is loaded and embeds every
gene description), then again with the cache that the first run filled (warm: the model is
never loaded). Each run times its steps, once Kang is loaded and prepared (2,000 HVGs):

- ``descriptions``: gene-set text for the 2,000 genes (reads the MSigDB GMT files);
- ``gene_embeddings``: all-MiniLM-L6-v2 on those texts (model load included), or the cache;
- ``genept``: the expression-weighted mean over the 13,576 cells (one sparse product).

Peak memory is the process's max RSS (it includes Kang and the Python libraries). The
embeddings cache lives in a temporary ``SCOTM_CACHE``; the gene-set wheel is linked in from
the real cache, so that nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _job() -> dict:
    """One run (in a child process): load and prepare Kang, then time the embedding steps."""
    import torch

    import scotm
    from scotm import priors

    t0 = time.perf_counter()
    adata = scotm.pp.prepare(scotm.datasets.kang())
    prep_s = time.perf_counter() - t0
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    times = {}
    t = time.perf_counter()
    texts = priors.gene_descriptions(list(adata.var_names))
    times["descriptions"] = time.perf_counter() - t
    t = time.perf_counter()
    lm = priors.TextEmbedder()
    genes = priors.gene_embeddings(list(adata.var_names), lm)
    times["gene_embeddings"] = time.perf_counter() - t
    t = time.perf_counter()
    priors.genept(adata, genes)
    times["genept"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    return {
        "cells": adata.n_obs,
        "genes": adata.n_vars,
        "dim": int(adata.obsm["X_genept"].shape[1]),
        "mean_description_chars": sum(map(len, texts)) / len(texts),
        "genes_in_no_set": sum(t == g for t, g in zip(texts, adata.var_names, strict=True)),
        "model_loaded": lm._model is not None,
        "torch_threads": torch.get_num_threads(),
        "prepare_s": prep_s,
        "seconds": times,
        "peak_rss_mb_after_data": rss_data,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="also write the results to this JSON file")
    parser.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        print(json.dumps(_job()))
        return

    from scotm import datasets

    wheels = datasets.cache_dir() / "wheels"
    results = {}
    with tempfile.TemporaryDirectory(prefix="scotm-embed-cost-") as tmp:
        cache = Path(tmp)
        if wheels.is_dir():
            (cache / "wheels").symlink_to(wheels, target_is_directory=True)
        kang = datasets.cache_dir() / datasets.KANG_CACHE_NAME
        for name in ("kang_csr.h5ad", "kang_csr.sha256"):  # the prepared Kang, not re-extracted
            if (kang.parent / name).exists():
                (cache / name).symlink_to(kang.parent / name)
        env = dict(os.environ, SCOTM_CACHE=str(cache))
        for run in ("cold", "warm"):
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, __file__, "--_child"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                sys.exit(f"{run} run failed:\n{proc.stderr[-3000:]}")
            results[run] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[run]["process_wall_s"] = time.perf_counter() - t
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_end": os.getloadavg(),
    }
    for run in ("cold", "warm"):
        r = results[run]
        s = r["seconds"]
        print(
            f"{run}: {r['genes']} gene descriptions -> {r['dim']}-d in {s['gene_embeddings']:.1f} s "
            f"(texts {s['descriptions']:.1f} s), GenePT for {r['cells']} cells {s['genept']:.2f} s; "
            f"total {s['total']:.1f} s; peak RSS {r['peak_rss_mb']:.0f} MB "
            f"({r['peak_rss_mb_after_data']:.0f} MB after loading Kang); model loaded: "
            f"{r['model_loaded']}"
        )
    print(f"load average at the end: {results['machine']['load_average_at_end']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
