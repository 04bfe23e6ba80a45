"""Training throughput of whole SCOTM fits, idle and beside a CPU-bound torch job; small-fold time.

Each fit runs in a fresh subprocess (``import scotm`` first, so its ``OMP_WAIT_POLICY=PASSIVE``
default applies, as for a user). Folds, from the real Kang et al. 2018 data (cached by
``scotm.datasets.kang``), preprocessed as ``scotm run`` does (2,000 highly variable genes):

- ``small``: a random 1,100-cell subsample of Kang (seed 0), CD14+ Monocytes held out: about
  1,000 training cells. Trained with the default settings (early stopping decides), then the
  held-out control cells are predicted. Reported: training throughput (optimiser steps per
  second of the autoencoder fit), and the wall time of train + predict (``SCOTM(...)`` to
  ``predict`` returned; reading and preprocessing the data are not included).
- ``kang``: the full Kang data, CD14+ Monocytes held out (about 12,000 training cells), the
  default settings but ``max_epochs`` (``--kang-epochs``) to keep it short: throughput only.

Conditions: ``idle`` (nothing started by this script; the machine may be shared, so the load
is recorded) and ``busy``: beside a second process doing 2-thread float32 matmuls with the
default (active) OpenMP wait policy, as in ``benchmarks/contention.py``. The conditions
alternate within each round (idle, busy, idle, busy, ...), so drifts in the background load
hit both; the ratio busy / idle is taken per round.

Run (repository root, PYTHONPATH=src)::

    nice -n 10 python benchmarks/train_speed.py --rounds 2

Every row has wall seconds and the process's CPU seconds (``time.process_time``, all threads)
of training and of train + predict: on a shared machine the wall time depends on the other
jobs, the CPU time much less. ``--src old=/path/to/old/src`` times another version of the
code in the same rounds (A/B on the same machine state)::

    git archive 53115e9~1 src | tar -x -C /tmp/old
    nice -n 10 python benchmarks/train_speed.py --folds small --conditions idle \\
        --src old=/tmp/old/src --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from contention import COMPETITOR, _env  # noqa: E402

WORKER = """
import json, time, numpy as np, scotm
from scotm.design import holdout_split
from scotm.model import SCOTM
adata = scotm.datasets.kang()
if {n_cells}:
    keep = np.sort(np.random.default_rng(0).choice(adata.n_obs, {n_cells}, replace=False))
    adata = adata[keep].copy()
adata = scotm.pp.prepare(adata, n_top_genes=2000)
fold = holdout_split(adata, "CD14+ Monocytes")
settings = {settings}
t0, c0 = time.perf_counter(), time.process_time()
model = SCOTM(fold.train, **settings)
model.train(progress=False)
c1 = time.process_time()
pred = model.predict(fold.ctrl)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
info = model.train_info
steps = info["epochs"] * max(1, info["n_train_cells"] // info["batch_size"])
print(json.dumps({{
    "n_train_cells": info["n_train_cells"], "epochs": info["epochs"],
    "batch_size": info["batch_size"], "steps": steps,
    "train_seconds": round(info["train_seconds"], 2),
    "transport_seconds": round(info["transport_seconds"], 2),
    "steps_per_s": round(steps / info["train_seconds"], 1),
    "train_predict_seconds": round(wall, 2), "n_predicted": pred.n_obs,
    "train_cpu_seconds": round(c1 - c0, 2), "train_predict_cpu_seconds": round(cpu, 2),
}}))
"""

FOLDS = {"small": 1100, "kang": 0}


def run_fold(fold: str, settings: dict, threads: int | None, src: str | None = None) -> dict:
    env = _env("PASSIVE")
    env.pop("SCOTM_THREADS", None)
    if src:  # another version of the code (e.g. an export of an older commit's src/)
        env["PYTHONPATH"] = src
    if threads:
        env["SCOTM_THREADS"] = str(threads)
    code = WORKER.format(n_cells=FOLDS[fold], settings=repr(settings))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--folds", default="small,kang")
    ap.add_argument("--kang-epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, help="SCOTM_THREADS for the fits (default: unset)")
    ap.add_argument("--conditions", default="idle,busy")
    ap.add_argument(
        "--src",
        action="append",
        metavar="LABEL=PATH",
        help="also time the code in PATH (a src/ folder), alternating with this checkout's; "
        "repeatable. Rows get a 'code' label ('this' for this checkout)",
    )
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/train_speed.json"))
    a = ap.parse_args(argv)
    rows = []
    codes = [("this", None)] + [tuple(x.split("=", 1)) for x in a.src or []]
    for rnd in range(a.rounds):
        for fold in a.folds.split(","):
            settings = {"max_epochs": a.kang_epochs} if fold == "kang" else {}
            for cond, (code, src) in [(c, k) for c in a.conditions.split(",") for k in codes]:
                comp = None
                if cond == "busy":
                    comp = subprocess.Popen([sys.executable, "-c", COMPETITOR], env=_env(None))
                    time.sleep(3)
                try:
                    load = os.getloadavg()[0]
                    r = run_fold(fold, settings, a.threads, src)
                finally:
                    if comp is not None:
                        comp.kill()
                        comp.wait()
                row = {"round": rnd, "fold": fold, "condition": cond, "threads": a.threads}
                row["code"] = code
                row.update(r, load1_before=round(load, 2), load1_after=os.getloadavg()[0])
                print(json.dumps(row), flush=True)
                rows.append(row)
    summary = {}
    for fold in a.folds.split(","):
        by = {
            (r["round"], r["condition"]): r
            for r in rows
            if r["fold"] == fold and r["code"] == "this"
        }
        ratios = [
            by[(k, "busy")]["steps_per_s"] / by[(k, "idle")]["steps_per_s"]
            for k in range(a.rounds)
            if (k, "busy") in by and (k, "idle") in by
        ]
        summary[fold] = {
            (c if len(codes) == 1 else f"{c} ({code})"): [
                r["steps_per_s"]
                for r in rows
                if r["fold"] == fold and r["condition"] == c and r["code"] == code
            ]
            for c in a.conditions.split(",")
            for code, _ in codes
        }
        summary[fold]["busy_over_idle_per_round"] = [round(x, 3) for x in ratios]
    print(json.dumps(summary, indent=1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
