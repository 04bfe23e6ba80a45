"""The GPU path (``accelerator="gpu"``) against the CPU path on one real Kang fold.

Trains the default SCOTM on one leave-one-cell-type-out fold of Kang twice, on the GPU and
on the CPU, with the same seed, and scores both under the pinned protocol. A GPU run is not
bit-identical to a CPU run (other kernels, other summation order), so the check is that
both land within a stated tolerance of each other, and it records the card, the times and
the peak GPU memory. Then the CLI's ``scotm train --accelerator gpu`` and ``scotm predict``
run on the same fold, so the command-line path is exercised too.

    python benchmarks/gpu_check.py --out gpu_check.json [--holdout "CD14+ Monocytes"]

Exits 1 if CUDA is not available (there is nothing to check on a CPU-only machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import scotm
from scotm import metrics
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM

TOLERANCE = 0.02  # |GPU - CPU| per metric: well below the seed spread on Kang folds


def fit_score(train, fold, degs, accelerator: str, seed: int) -> dict:
    """Train + predict on one device; the pinned metrics and the times."""
    if accelerator == "gpu":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    model = SCOTM(train, seed=seed)
    model.train(progress=False, accelerator=accelerator)
    t1 = time.perf_counter()
    pred = model.predict(fold.ctrl)
    t2 = time.perf_counter()
    row = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
    row.update(accelerator=accelerator, train_s=round(t1 - t0, 2), predict_s=round(t2 - t1, 2))
    if accelerator == "gpu":
        row["gpu_peak_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)
    return row


def cli_check(holdout: str, work: Path, accelerator: str = "gpu") -> dict:
    """``scotm train --accelerator gpu`` (2 epochs, Kang) then ``scotm predict``."""
    model_dir, out = work / "model", work / "pred.h5ad"
    train_cmd = [sys.executable, "-m", "scotm.cli", "train", "--holdout", holdout]
    train_cmd += ["--out", str(model_dir), "--accelerator", accelerator]
    train_cmd += ["--max-epochs", "2"]
    t0 = time.perf_counter()
    done = subprocess.run(train_cmd, capture_output=True, text=True)
    t1 = time.perf_counter()
    result = {"train_rc": done.returncode, "train_s": round(t1 - t0, 1)}
    result["train_tail"] = (done.stdout + done.stderr)[-600:]
    if done.returncode == 0:
        predict_cmd = [sys.executable, "-m", "scotm.cli", "predict", "--model", str(model_dir)]
        predict_cmd += ["--cell-type", holdout, "--out", str(out)]
        done = subprocess.run(predict_cmd, capture_output=True, text=True)
        result.update(predict_rc=done.returncode, predict_tail=(done.stdout + done.stderr)[-600:])
        result["predicted_file"] = out.exists()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--holdout", default="CD14+ Monocytes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cli", action="store_true")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("CUDA is not available here: nothing to check")
    adata = scotm.pp.prepare(scotm.datasets.kang())
    fold = holdout_split(adata, args.holdout, Keys())
    degs = metrics.top_degs(fold.ctrl, fold.real)
    report = {
        "card": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "holdout": args.holdout,
        "tolerance": TOLERANCE,
    }
    rows = [fit_score(fold.train, fold, degs, acc, args.seed) for acc in ("gpu", "cpu")]
    report["rows"] = rows
    names = ("r2_mean_deg", "delta_r_deg", "r2_var_deg", "deg_overlap")
    diffs = {m: round(abs(rows[0][m] - rows[1][m]), 4) for m in names}
    report["abs_diff"] = diffs
    report["within_tolerance"] = all(d <= TOLERANCE for d in diffs.values())
    if not args.no_cli:
        with tempfile.TemporaryDirectory() as tmp:
            report["cli"] = cli_check(args.holdout, Path(tmp))
    args.out.write_text(json.dumps(report, indent=1, default=float))
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
