"""Scale-up of scotm's data, OT and transfer phases on SYNTHETIC data (not a biological result).

THE DATA ARE SYNTHETIC: negative-binomial counts, 2,000 genes, 10 cell types, half control and
half perturbed, with a cell-type-dependent response (a shared log-fold change plus one per type).
Cell type 0 is held out: its perturbed cells are not used, its control cells are the queries.

Each size runs in its own subprocess, so every peak RSS is that size's alone. Phases:

- ``generate``: counts, written straight into a CSR matrix (chunks of 10,000 cells);
- ``normalise``: ``scanpy.pp.normalize_total(target_sum=1e4)`` + ``log1p``, in place;
- ``encode``: a STAND-IN ENCODER, a fixed random linear projection to 64 dimensions (not the
  trained SCOTM autoencoder, whose training is timed elsewhere);
- ``ot``: ``scotm.transport.ot_shifts(..., method=...)`` within each training cell type;
- ``transfer``: ``scotm.transport.transfer_shifts`` of the held-out type's control cells.

For each phase: wall time and the phase's own peak RSS (Linux: ``/proc/self/clear_refs`` resets
the high-water mark before each phase, ``VmHWM`` reads it after). Growth exponents are the
least-squares slopes of log(time) and log(peak RSS) against log(cells).

``--compare N`` instead codes N cells once and reports, against exact EMD, the Pearson
correlation of mini-batch OT shifts (and of the transferred shifts) with their times.
``--entropic N`` does the same for one cell type with POT's Sinkhorn (numpy, and torch float32).
``--model N [--max-steps S]`` runs the whole method instead: SCOTM trained on N synthetic cells
(type 0's perturbed cells held out; default settings, the schedule capped at S optimiser
steps) and type 0's control cells predicted, with each phase's time and peak RSS.

Run (from the repository root, PYTHONPATH=src)::

    nice -n 10 python benchmarks/scale.py --cells 10000 100000 300000 1000000
    nice -n 10 python benchmarks/scale.py --cells 200000 --out benchmarks/results/scale_200k.json
    nice -n 10 python benchmarks/scale.py --compare 40000
    nice -n 10 python benchmarks/scale.py --entropic 40000
    python benchmarks/scale.py --fit benchmarks/results/scale_*k.json   # exponents over runs
    nice -n 10 python benchmarks/scale.py --model 100000 --max-steps 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

N_GENES, N_TYPES, N_LATENT, CHUNK = 2000, 10, 64, 10_000
SYNTHETIC = "SYNTHETIC DATA (negative-binomial counts), not a biological result"


def _hwm_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _hwm_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6  # kB -> GB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def generate(n_cells: int, seed: int = 0):
    """Counts (CSR, float32), cell types (int) and conditions (True = perturbed)."""
    rng = np.random.default_rng(seed)
    # gene means: log-normal, most genes lowly expressed (about 10% non-zero entries)
    base = np.exp(rng.normal(-2.2, 1.3, size=N_GENES))
    type_lfc = rng.normal(0, 0.8, size=(N_TYPES, N_GENES)) * (rng.random(N_GENES) < 0.3)
    shared = rng.normal(0, 1.0, size=N_GENES) * (rng.random(N_GENES) < 0.1)
    specific = rng.normal(0, 1.0, size=(N_TYPES, N_GENES)) * (rng.random((N_TYPES, N_GENES)) < 0.05)
    theta = 2.0  # NB dispersion
    types = rng.integers(0, N_TYPES, size=n_cells)
    pert = rng.random(n_cells) < 0.5
    parts = []
    for s in range(0, n_cells, CHUNK):
        t, p = types[s : s + CHUNK], pert[s : s + CHUNK]
        size = np.exp(rng.normal(0, 0.3, size=len(t)))[:, None]
        mu = base * np.exp(type_lfc[t] + p[:, None] * (shared + specific[t])) * size
        counts = rng.poisson(rng.gamma(theta, mu / theta)).astype(np.float32)
        parts.append(sp.csr_matrix(counts))
    return sp.vstack(parts, format="csr"), types, pert


def _normalise(adata) -> None:
    import scanpy as sc

    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)


def run_size(n_cells: int, method: str, batch_size: int, seed: int = 0) -> dict:
    """All phases on one size, in this process; returns times and peaks."""
    import anndata as ad

    from scotm import transport

    out: dict = {"cells": n_cells, "method": method, "batch_size": batch_size, "phases": {}}
    out["data"] = SYNTHETIC

    def phase(name, fn):
        _hwm_reset()
        t = time.perf_counter()
        result = fn()
        out["phases"][name] = {"seconds": time.perf_counter() - t, "peak_rss_gb": _hwm_gb()}
        print(f"  {n_cells:>9,} {name:<10} {out['phases'][name]}", file=sys.stderr, flush=True)
        return result

    X, types, pert = phase("generate", lambda: generate(n_cells, seed))
    out["nonzero_fraction"] = X.nnz / (X.shape[0] * X.shape[1])
    adata = ad.AnnData(X)

    phase("normalise", lambda: _normalise(adata))
    W = np.random.default_rng(seed + 1).normal(size=(N_GENES, N_LATENT)) / np.sqrt(N_GENES)
    Z = phase("encode", lambda: np.asarray(adata.X @ W))  # STAND-IN ENCODER
    adata = X = None  # free the counts before OT
    ctrl = ~pert
    train_c, train_p = ctrl & (types != 0), pert & (types != 0)
    out["ot_pairs"] = f"{train_c.sum():,} control x {train_p.sum():,} perturbed (9 types)"
    _, shifts = phase(
        "ot",
        lambda: transport.ot_shifts(
            Z[train_c],
            Z[train_p],
            types[train_c],
            types[train_p],
            method=method,
            batch_size=batch_size,
            seed=seed,
        ),
    )
    query = ctrl & (types == 0)
    out["queries"] = int(query.sum())
    phase("transfer", lambda: transport.transfer_shifts(Z[query], Z[train_c], shifts, k=30))
    out["ot_plus_transfer_seconds"] = (
        out["phases"]["ot"]["seconds"] + out["phases"]["transfer"]["seconds"]
    )
    out["ot_plus_transfer_peak_rss_gb"] = max(
        out["phases"]["ot"]["peak_rss_gb"], out["phases"]["transfer"]["peak_rss_gb"]
    )
    return out


def run_model(n_cells: int, max_steps: int, seed: int = 0) -> dict:
    """The whole method on one size: SCOTM trained (default settings but ``max_steps``) with
    type 0's perturbed cells held out, then type 0's control cells predicted."""
    import anndata as ad
    import pandas as pd

    from scotm.design import holdout_split
    from scotm.model import SCOTM

    out: dict = {"cells": n_cells, "mode": "model", "max_steps": max_steps, "phases": {}}
    out["data"] = SYNTHETIC

    def phase(name, fn):
        _hwm_reset()
        t = time.perf_counter()
        result = fn()
        out["phases"][name] = {"seconds": time.perf_counter() - t, "peak_rss_gb": _hwm_gb()}
        print(f"  {n_cells:>9,} {name:<10} {out['phases'][name]}", file=sys.stderr, flush=True)
        return result

    X, types, pert = phase("generate", lambda: generate(n_cells, seed))
    obs = pd.DataFrame(
        {
            "condition": np.where(pert, "stimulated", "control"),
            "cell_type": np.char.add("type", types.astype(str)),
        },
        index=pd.RangeIndex(n_cells).astype(str),
    )
    adata = ad.AnnData(X, obs=obs)
    X = None
    phase("normalise", lambda: _normalise(adata))
    fold = phase("split", lambda: holdout_split(adata, "type0"))
    adata = None
    model = SCOTM(fold.train, max_steps=max_steps)
    phase("train", lambda: model.train(progress=False))  # autoencoder, then OT
    out["train_info"] = {k: v for k, v in model.train_info.items() if not isinstance(v, list)}
    pred = phase("predict", lambda: model.predict(fold.ctrl))
    out["predicted_cells"] = int(pred.n_obs)
    out["total_seconds"] = sum(p["seconds"] for p in out["phases"].values())
    out["peak_rss_gb"] = max(p["peak_rss_gb"] for p in out["phases"].values())
    return out


def compare(n_cells: int, seed: int = 0, batch_sizes=(256, 512, 1024, 2048)) -> dict:
    """Exact EMD against mini-batch OT on the same codes: correlation of shifts, times."""
    import anndata as ad

    from scotm import transport

    X, types, pert = generate(n_cells, seed)
    adata = ad.AnnData(X)
    _normalise(adata)
    W = np.random.default_rng(seed + 1).normal(size=(N_GENES, N_LATENT)) / np.sqrt(N_GENES)
    Z = np.asarray(adata.X @ W)
    c, p = ~pert & (types != 0), pert & (types != 0)
    q = ~pert & (types == 0)
    args = (Z[c], Z[p], types[c], types[p])
    t = time.perf_counter()
    _, exact = transport.ot_shifts(*args, method="emd")
    res = {"cells": n_cells, "data": SYNTHETIC, "exact_seconds": time.perf_counter() - t}
    ex_t, _, _ = transport.transfer_shifts(Z[q], Z[c], exact, k=30)
    for b, reps in [(b, 1) for b in batch_sizes] + [(1024, 4)]:
        t = time.perf_counter()
        _, mb = transport.ot_shifts(
            *args, method="minibatch", batch_size=b, n_repeats=reps, seed=seed
        )
        sec = time.perf_counter() - t
        mb_t, _, _ = transport.transfer_shifts(Z[q], Z[c], mb, k=30)
        name = f"minibatch_b{b}" + (f"_x{reps}" if reps > 1 else "")
        res[name] = {
            "seconds": sec,
            "pearson_shifts": float(np.corrcoef(exact.ravel(), mb.ravel())[0, 1]),
            "pearson_transferred": float(np.corrcoef(ex_t.ravel(), mb_t.ravel())[0, 1]),
        }
        print(f"  {name}: {res[name]}", file=sys.stderr, flush=True)
    return res


def entropic(n_cells: int, seed: int = 0) -> dict:
    """One cell type: exact EMD against POT's Sinkhorn (numpy float64, torch float32)."""
    import anndata as ad
    import ot
    import torch

    from scotm import transport

    X, types, pert = generate(n_cells, seed)
    adata = ad.AnnData(X)
    _normalise(adata)
    W = np.random.default_rng(seed + 1).normal(size=(N_GENES, N_LATENT)) / np.sqrt(N_GENES)
    Z = np.asarray(adata.X @ W)
    zc, zp = Z[~pert & (types == 1)], Z[pert & (types == 1)]
    res = {"cells_in_type": f"{len(zc)} control x {len(zp)} perturbed", "data": SYNTHETIC}
    t = time.perf_counter()
    exact = transport.barycentric_shift(zc, zp, transport.coupling(zc, zp, "emd"))
    res["emd_seconds"] = time.perf_counter() - t

    def record(name, fn):
        t = time.perf_counter()
        shifts = fn()
        res[name] = {
            "seconds": time.perf_counter() - t,
            "pearson_shifts": float(np.corrcoef(exact.ravel(), shifts.ravel())[0, 1]),
        }
        print(f"  {name}: {res[name]}", file=sys.stderr, flush=True)

    record(
        "sinkhorn_numpy",
        lambda: transport.barycentric_shift(zc, zp, transport.coupling(zc, zp, "sinkhorn")),
    )

    def sinkhorn_torch():
        M = torch.from_numpy(ot.dist(zc, zp)).float()
        M /= M.median()
        a, b = torch.full((len(zc),), 1 / len(zc)), torch.full((len(zp),), 1 / len(zp))
        G = ot.sinkhorn(a, b, M, 0.05, numItermax=10_000, method="sinkhorn_log")
        return transport.barycentric_shift(zc, zp, G.double().numpy())

    record("sinkhorn_torch_float32", sinkhorn_torch)
    record("minibatch_b1024", lambda: transport.minibatch_shifts(zc, zp, batch_size=1024))
    return res


def exponents(rows: list[dict]) -> dict:
    """Least-squares slope of log(value) against log(cells), per phase and quantity."""
    cells = np.log([r["cells"] for r in rows])
    fit = {}
    for name in rows[0]["phases"]:
        for key in ("seconds", "peak_rss_gb"):
            y = np.log([max(r["phases"][name][key], 1e-6) for r in rows])
            fit[f"{name}.{key}"] = float(np.polyfit(cells, y, 1)[0])
    return fit


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, nargs="+", default=[10_000, 100_000, 300_000, 1_000_000])
    ap.add_argument("--method", default="auto", help="OT method for scotm.transport.ot_shifts")
    ap.add_argument("--batch-size", type=int, default=1024, help="mini-batch OT batch size")
    ap.add_argument("--compare", type=int, help="exact vs mini-batch OT on this many cells")
    ap.add_argument("--entropic", type=int, help="exact vs Sinkhorn OT, one type of N cells")
    ap.add_argument("--fit", type=Path, nargs="+", help="growth exponents over these results")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one size, in this process
    ap.add_argument(
        "--model",
        type=int,
        metavar="N",
        help="train SCOTM (--max-steps) and predict the held-out type on N cells, one process",
    )
    ap.add_argument("--max-steps", type=int, default=10_000, help="with --model")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    a = ap.parse_args(argv)
    print(f"*** {SYNTHETIC} ***", file=sys.stderr)
    if a.one:
        print(json.dumps(run_size(a.one, a.method, a.batch_size)))
        return
    if a.model:
        res = run_model(a.model, a.max_steps)
        out = a.out.with_name(f"scale_model_{a.model}.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1))
        print(json.dumps(res, indent=1))
        return
    if a.fit:
        rows = sorted(
            (r for f in a.fit for r in json.loads(f.read_text())["sizes"]), key=lambda r: r["cells"]
        )
        print(json.dumps({"cells": [r["cells"] for r in rows], **exponents(rows)}, indent=1))
        return
    if a.entropic:
        res = entropic(a.entropic)
        out = a.out.with_name(f"scale_entropic_{a.entropic}.json")
    elif a.compare:
        res = compare(a.compare)
        out = a.out.with_name(f"scale_compare_{a.compare}.json")
    else:
        rows = []
        for n in a.cells:
            cmd = [sys.executable, __file__, "--one", str(n), "--method", a.method]
            cmd += ["--batch-size", str(a.batch_size)]
            done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
            rows.append(json.loads(done.stdout))
        res = {"data": SYNTHETIC, "sizes": rows}
        if len(rows) > 1:
            res["growth_exponents"] = exponents(rows)
        out = a.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
