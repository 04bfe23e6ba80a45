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
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from scotm._io import write_h5ad

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


class RssSampler:
    """Samples this process's resident memory (``VmRSS``) every ``every`` seconds in a thread,
    so the peak of a part of a phase (the autoencoder's fit, the OT) can be read by time."""

    def __init__(self, every: float = 0.5) -> None:
        self.every, self.samples = every, []  # (seconds since start, GB)
        self._t0, self._stop = time.perf_counter(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append((time.perf_counter() - self._t0, _rss_gb()))

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def peak(self, start: float, stop: float) -> float | None:
        inside = [gb for t, gb in self.samples if start <= t <= stop]
        return max(inside) if inside else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1e6  # kB -> GB
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def write_data(n_cells: int, path: Path, seed: int = 0) -> dict:
    """Generate ``n_cells`` synthetic cells and write them (raw counts, obs) to ``path``."""
    import anndata as ad
    import pandas as pd

    t = time.perf_counter()
    X, types, pert = generate(n_cells, seed)
    obs = pd.DataFrame(
        {
            "condition": np.where(pert, "stimulated", "control"),
            "cell_type": np.char.add("type", types.astype(str)),
        },
        index=pd.RangeIndex(n_cells).astype(str),
    )
    adata = ad.AnnData(X, obs=obs)
    adata.var_names = [f"g{i}" for i in range(N_GENES)]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_h5ad(adata, path)  # atomic: a killed run leaves no half-written cache
    return {"seconds": time.perf_counter() - t, "peak_rss_gb": _hwm_gb(), "path": str(path)}


def _commit() -> str:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "src", "benchmarks/scale.py"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    return done.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


def _data_file(n_cells: int, data_dir: Path, seed: int = 0) -> tuple[Path, dict | None]:
    """The cached h5ad of ``n_cells`` synthetic cells, generated in a subprocess if missing."""
    path = data_dir / f"synthetic_{n_cells}_seed{seed}.h5ad"
    if path.exists():
        return path, None
    cmd = [sys.executable, __file__, "--write-data", str(n_cells), "--data-dir", str(data_dir)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return path, json.loads(done.stdout.strip().splitlines()[-1])


def run_model(
    n_cells: int,
    max_steps: int,
    out_path: Path,
    data_dir: Path,
    accelerator: str = "cpu",
    seed: int = 0,
    backed: bool = False,
    val_fraction: float | None = None,
) -> dict:
    """The whole method on one size, as a user runs it, each phase timed with its peak RSS.

    Read the counts (h5ad), ``scotm.pp.prepare``, ``holdout_split`` (type 0's perturbed cells
    held out), ``SCOTM(...)`` (setup and checks), ``train`` (the autoencoder, then OT; default
    settings but ``max_steps``), ``predict`` type 0's control cells, write the prediction.
    The JSON at ``out_path`` is rewritten after every phase, so a run stopped early still says
    which phases it reached. ``backed``: the training cells are written to an h5ad and
    trained from it opened with ``backed="r"`` (out of core: rows read a batch at a time).
    ``val_fraction``: SCOTM's setting (default 0.1: at 1M cells, 95,000 validation cells
    after every round of 150 steps).
    """
    import anndata as ad
    import torch

    import scotm
    from scotm.design import holdout_split
    from scotm.model import SCOTM

    path, gen = _data_file(n_cells, data_dir, seed)
    out: dict = {"cells": n_cells, "mode": "model", "max_steps": max_steps, "phases": {}}
    out.update(data=SYNTHETIC, accelerator=accelerator, backed=backed, completed=False)
    out["commit"] = _commit()
    out["generate_not_timed_with_the_method"] = gen or "cached file"
    cuda = accelerator != "cpu" and torch.cuda.is_available()
    if cuda:
        out["gpu"] = torch.cuda.get_device_name()
    out["torch_threads"] = torch.get_num_threads()
    sampler = RssSampler()

    def save() -> None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(out, indent=1))

    def phase(name, fn):
        gc.collect()  # AnnData holds reference cycles: free what the last phase dropped
        _hwm_reset()
        start, t = sampler.now(), time.perf_counter()
        result = fn()
        secs = time.perf_counter() - t
        out["phases"][name] = {"seconds": secs, "peak_rss_gb": _hwm_gb(), "start_s": start}
        print(f"  {n_cells:>9,} {name:<8} {out['phases'][name]}", file=sys.stderr, flush=True)
        save()
        return result

    adata = phase("read", lambda: ad.read_h5ad(path))
    adata = phase("prepare", lambda: scotm.pp.prepare(adata))  # the counts are freed here
    fold = phase("split", lambda: holdout_split(adata, "type0"))
    adata = None
    fold.real = None  # the held-out truth: not needed to predict
    if backed:  # train from disk: the training cells written once, then read out of core
        train_path = out_path.with_suffix(".train.h5ad")
        phase("write_train", lambda: write_h5ad(fold.train, train_path))
        fold.train = None
        fold.train = phase("open_backed", lambda: ad.read_h5ad(train_path, backed="r"))
    kw = {"max_steps": max_steps} | ({} if val_fraction is None else {"val_fraction": val_fraction})
    out["settings"] = kw
    model = phase("setup", lambda: SCOTM(fold.train, **kw))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    phase("train", lambda: model.train(progress=False, accelerator=accelerator))
    info = {k: v for k, v in model.train_info.items() if not isinstance(v, list)}
    out["train_info"] = info
    train = out["phases"]["train"]
    t_end = train["start_s"] + train["seconds"]
    ae_end = train["start_s"] + info["train_seconds"]
    out["train_parts_sampled"] = {  # RSS sampled every 0.5 s; windows from train_info
        "autoencoder": {
            "seconds": info["train_seconds"],
            "peak_rss_gb": sampler.peak(train["start_s"], ae_end),
        },
        "ot": {
            "seconds": info["transport_seconds"],
            "peak_rss_gb": sampler.peak(t_end - info["transport_seconds"], t_end),
        },
    }
    if cuda:
        out["gpu_max_memory_allocated_gb"] = torch.cuda.max_memory_allocated() / 1e9
    pred = phase("predict", lambda: model.predict(fold.ctrl))
    out["predicted_cells"] = int(pred.n_obs)
    target = out_path.with_suffix(".pred.h5ad")
    phase("write", lambda: write_h5ad(pred, target))
    target.unlink()  # only its cost is measured
    if backed:
        fold.train.file.close()
        train_path.unlink()
    sampler.stop()
    out["total_seconds"] = sum(p["seconds"] for p in out["phases"].values())
    out["peak_rss_gb"] = max(p["peak_rss_gb"] for p in out["phases"].values())
    out["completed"] = True
    save()
    return out


def memory_probe(n_cells: int, data_dir: Path) -> dict:
    """Peak RSS of each fixed step against what it replaced, on the same data, one process.

    Each step's peak is the process high-water mark above its resident memory just before
    the step (``VmHWM - VmRSS``), i.e. the step's own extra memory at its peak.
    """
    import anndata as ad
    import scanpy as sc

    import scotm
    from scotm._subset import copy_subset

    path, _ = _data_file(n_cells, data_dir)
    res: dict = {"cells": n_cells, "data": SYNTHETIC, "commit": _commit(), "extra_gb": {}}

    def extra(name, fn):
        gc.collect()
        _hwm_reset()
        before = _rss_gb()
        out = fn()
        res["extra_gb"][name] = _hwm_gb() - before
        print(f"  {name:<40} +{res['extra_gb'][name]:.3f} GB", file=sys.stderr, flush=True)
        return out

    counts = ad.read_h5ad(path)
    X = counts.X
    res["matrix_gb"] = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 1e9

    def whole():
        a = counts.copy()
        sc.pp.normalize_total(a, target_sum=1e4)
        sc.pp.log1p(a)
        return a

    def blocks():
        a = counts.copy()
        scotm.pp.normalise_log1p(a)
        return a

    extra("copy + scanpy normalise/log1p, whole", whole)
    prepared = extra("copy + pp.normalise_log1p (blocks)", blocks)
    counts = X = None
    mask = ~((prepared.obs["cell_type"] == "type0") & (prepared.obs["condition"] != "control"))
    mask = mask.to_numpy()
    extra("adata[mask].copy() (anndata)", lambda: prepared[mask].copy())
    extra("copy_subset(adata, mask)", lambda: copy_subset(prepared, mask))

    def dropped(collect: bool) -> float:
        gc.collect()
        a = prepared.copy()
        view = a[mask]  # a view of it, as holdout_split takes: views refer to their parent
        view = None  # noqa: F841
        before = _rss_gb()
        a = None  # noqa: F841  (dropped, as a script rebinding its variable does)
        if collect:
            gc.collect()
        return before - _rss_gb()

    res["freed_gb_on_drop_without_gc"] = dropped(False)
    res["freed_gb_on_drop_with_gc"] = dropped(True)
    return res


def run_sizes(
    sizes: list[int],
    max_steps: int,
    out_path: Path,
    data_dir: Path,
    accelerator: str = "cpu",
    budget: float | None = None,
) -> dict:
    """:func:`run_model` on each size in its own subprocess, within ``budget`` seconds.

    ``out_path`` is rewritten after every size (and holds the phases a stopped size reached);
    with two or more completed sizes it also holds the growth exponents.
    """
    t0 = time.perf_counter()
    res: dict = {"data": SYNTHETIC, "accelerator": accelerator, "max_steps": max_steps}
    res.update(sizes=[], budget_seconds=budget)
    for n in sizes:
        left = None if budget is None else budget - (time.perf_counter() - t0)
        if left is not None and left <= 0:
            res.setdefault("skipped", []).append(n)
            _write(out_path, res)
            continue
        part = out_path.with_name(f"{out_path.stem}_{n}.json")
        cmd = [sys.executable, __file__, "--model", str(n), "--max-steps", str(max_steps)]
        cmd += ["--out", str(part), "--data-dir", str(data_dir), "--accelerator", accelerator]
        # its own process group, so a stop at the budget also ends its data generator
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            child.wait(timeout=left)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        row = json.loads(part.read_text()) if part.exists() else {"cells": n, "phases": {}}
        if child.returncode != 0 and row.get("completed"):
            row["completed"] = False
        row["returncode"] = child.returncode
        res["sizes"].append(row)
        done = [r for r in res["sizes"] if r.get("completed")]
        if len(done) > 1:
            res["growth_exponents"] = exponents(done)
        res["elapsed_seconds"] = time.perf_counter() - t0
        _write(out_path, res)
    return res


def _write(path: Path, res: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1))


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
    names = [n for n in rows[0]["phases"] if all(n in r["phases"] for r in rows)]
    for name in names:
        for key in ("seconds", "peak_rss_gb"):
            y = np.log([max(r["phases"][name][key], 1e-6) for r in rows])
            fit[f"{name}.{key}"] = float(np.polyfit(cells, y, 1)[0])
    for key in ("total_seconds", "peak_rss_gb"):  # the whole run (--model rows)
        if all(key in r for r in rows):
            fit[key] = float(np.polyfit(cells, np.log([r[key] for r in rows]), 1)[0])
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
    ap.add_argument("--max-steps", type=int, default=2000, help="with --model / --sizes")
    ap.add_argument(
        "--sizes",
        type=lambda v: [int(x) for x in v.split(",")],
        help="the whole method (as --model) on each size, e.g. 10000,100000,300000, each in a "
        "subprocess; --out gets the JSON after every size",
    )
    ap.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="with --sizes: seconds for all sizes; the size running at the budget is stopped "
        "and recorded with the phases it reached, larger sizes are skipped",
    )
    ap.add_argument(
        "--accelerator",
        default="cpu",
        help="Lightning accelerator for training (cpu, gpu, auto); with CUDA the card and its "
        "peak allocated memory are recorded",
    )
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "scotm_scale",
        help="cache of the generated synthetic h5ad files (one per size)",
    )
    ap.add_argument(
        "--backed",
        action="store_true",
        help="with --model: train from the training cells written to h5ad and opened with "
        "anndata's backed='r' (out of core)",
    )
    ap.add_argument(
        "--val-fraction", type=float, help="with --model: SCOTM's val_fraction (default 0.1)"
    )
    ap.add_argument(
        "--memory-probe",
        type=int,
        metavar="N",
        help="extra memory of each fixed step against what it replaced, on N cells",
    )
    ap.add_argument("--write-data", type=int, help=argparse.SUPPRESS)  # generate, in a child
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    a = ap.parse_args(argv)
    print(f"*** {SYNTHETIC} ***", file=sys.stderr)
    if a.one:
        print(json.dumps(run_size(a.one, a.method, a.batch_size)))
        return
    if a.memory_probe:
        res = memory_probe(a.memory_probe, a.data_dir)
        _write(a.out, res)
        print(json.dumps(res, indent=1))
        return
    if a.write_data:
        path = a.data_dir / f"synthetic_{a.write_data}_seed0.h5ad"
        print(json.dumps(write_data(a.write_data, path)))
        return
    if a.model:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        res = run_model(
            a.model,
            a.max_steps,
            a.out,
            a.data_dir,
            a.accelerator,
            backed=a.backed,
            val_fraction=a.val_fraction,
        )
        print(json.dumps(res, indent=1))
        return
    if a.sizes:
        res = run_sizes(a.sizes, a.max_steps, a.out, a.data_dir, a.accelerator, a.time_budget)
        print(json.dumps(res, indent=1))
        return
    if a.fit:
        found = [json.loads(f.read_text()) for f in a.fit]  # {"sizes": [...]} or one --model row
        rows = [r for d in found for r in d.get("sizes", [d]) if r.get("completed", True)]
        rows.sort(key=lambda r: r["cells"])
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
