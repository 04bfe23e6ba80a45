"""Fuzz saved models and .h5ad files; classify what each corruption does (not run in CI).

    python benchmarks/fuzz.py                       # 200 model dirs + 200 h5ad files
    python benchmarks/fuzz.py --models 50 --h5ad 50 --out /tmp/fuzz.json

A tiny model is trained and saved (in a child process), with a second one from another seed
as a source of "foreign" files. Each case copies the saved directory (or the .h5ad file),
corrupts it one way (byte flips, truncation, removed/extra/foreign files, a FIFO, symlinks to
/dev/urandom or out of the directory, NaN arrays, swapped genes, ...), and then loads and
predicts (or reads) it in a forked child process with a time limit (10 s). Outcomes:

* ``one-line error``: a :class:`scotm.ScotmInputError` with a one-line message;
* ``raw traceback``: any other exception (what a user would see as a traceback);
* ``hang``: the time limit passed; ``crash``: the child died from a signal;
* ``silently different``: it loaded and predicted (read) something different, no word;
* ``identical``: it loaded and predicted (read) exactly what the pristine file gives.

Model cases run in two modes: ``load`` is ``SCOTM.load`` as it is, and ``manifest+load``
first checks the directory with :func:`scotm._manifest.verify` (what a wired load does). Once
``SCOTM.save``/``load`` write and check the manifest themselves, ``load`` is the real path
(the script then sees the manifest the save wrote and writes none of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # children are forked: no thread pools yet

import numpy as np  # noqa: E402

OUTCOMES = ("one-line error", "raw traceback", "hang", "crash", "silently different", "identical")
MODEL_KINDS = (
    "flip-bytes",
    "flip-weights",
    "truncate",
    "empty-file",
    "remove-file",
    "extra-file",
    "foreign-file",
    "fifo",
    "link-urandom",
    "link-outside",
    "dir-instead",
    "nan-shifts",
    "nan-codes",
    "swap-genes",
    "edit-settings",
    "flip-manifest",
)
H5AD_KINDS = ("flip-1", "flip-8", "flip-meta", "zero-18-meta", "zero-64", "truncate")
MODEL_FILES = ("scotm.json", "weights.safetensors", "transport.npz")


# ------------------------------------------------------------------ set-up (in a child)


def build(work: Path) -> None:
    """Train two tiny models (seeds 0 and 1), save them, and write the control cells."""
    import scotm
    from scotm._manifest import MANIFEST_FILE, write_manifest
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import SCOTM

    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=300, n_genes=40, seed=1), None)
    fold = holdout_split(adata, "type2", Keys())
    for name, seed in (("model", 0), ("other", 1)):
        model = SCOTM(fold.train, hidden=(32, 16), n_latent=4, target_steps=100, seed=seed)
        model.train(progress=False)
        model.save(work / name)
        if not (work / name / MANIFEST_FILE).exists():  # before wiring: the harness adds it
            write_manifest(work / name)
    fold.ctrl.write_h5ad(work / "ctrl.h5ad")


# ------------------------------------------------------------------ corruptions


def _flip(path: Path, rng, n: int, lo: int = 0, hi: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    hi = len(data) if hi is None else min(hi, len(data))
    for pos in rng.integers(lo, hi, n):
        data[pos] ^= int(rng.integers(1, 256))
    path.write_bytes(bytes(data))


def corrupt_model(d: Path, kind: str, rng, work: Path) -> str:
    """Corrupt model directory ``d`` one way; return a short description."""
    name = str(rng.choice(MODEL_FILES))
    p = d / name
    if kind == "flip-bytes":
        n = int(rng.integers(1, 9))
        _flip(p, rng, n)
        return f"{n} byte(s) of {name}"
    if kind == "flip-weights":  # past the safetensors header: the raw float32 weights
        header = 8 + int.from_bytes((d / "weights.safetensors").read_bytes()[:8], "little")
        _flip(d / "weights.safetensors", rng, 1, lo=header)
        return "1 weight byte"
    if kind == "truncate":
        size = p.stat().st_size
        keep = int(rng.integers(0, size))
        p.write_bytes(p.read_bytes()[:keep])
        return f"{name} to {keep}/{size} bytes"
    if kind == "empty-file":
        p.write_bytes(b"")
        return name
    if kind == "remove-file":
        p.unlink()
        return name
    if kind == "extra-file":
        (d / f"extra{int(rng.integers(1000))}.bin").write_bytes(
            rng.bytes(int(rng.integers(1, 4096)))
        )
        return "an extra file"
    if kind == "foreign-file":
        shutil.copy(work / "other" / name, p)
        return f"{name} from another model"
    if kind == "fifo":
        p.unlink()
        os.mkfifo(p)
        return name
    if kind == "link-urandom":
        p.unlink()
        p.symlink_to("/dev/urandom")
        return name
    if kind == "link-outside":  # a link to an identical copy outside the directory
        outside = d.parent / f"outside-{name}"
        shutil.copy(p, outside)
        p.unlink()
        p.symlink_to(outside)
        return name
    if kind == "dir-instead":
        p.unlink()
        p.mkdir()
        return name
    if kind in ("nan-shifts", "nan-codes"):
        key = kind.split("-")[1]
        with np.load(d / "transport.npz") as z:
            arrays = dict(z)
        a = arrays[key]
        a[tuple(rng.integers(0, s) for s in a.shape)] = np.nan
        np.savez(d / "transport.npz", **arrays)
        return f"one NaN in {key}"
    if kind in ("swap-genes", "edit-settings"):
        meta = json.loads((d / "scotm.json").read_text())
        if kind == "swap-genes":
            i, j = rng.choice(len(meta["var_names"]), 2, replace=False)
            g = meta["var_names"]
            g[i], g[j] = g[j], g[i]
            what = f"genes {i} and {j} swapped"
        else:
            meta["settings"]["k"] = int(rng.integers(1, 50))
            what = f"settings k={meta['settings']['k']}"
        (d / "scotm.json").write_text(json.dumps(meta, indent=1))
        return what
    if kind == "flip-manifest":
        _flip(d / "manifest.json", rng, int(rng.integers(1, 5)))
        return "manifest.json bytes"
    raise ValueError(kind)


def corrupt_h5ad(p: Path, kind: str, rng) -> str:
    size = p.stat().st_size
    meta_hi = min(size, 4096)  # superblock, root group, first object headers
    if kind == "flip-1":
        _flip(p, rng, 1)
    elif kind == "flip-8":
        _flip(p, rng, 8)
    elif kind == "flip-meta":
        _flip(p, rng, int(rng.integers(1, 5)), hi=meta_hi)
    elif kind in ("zero-18-meta", "zero-64"):
        n = 18 if kind == "zero-18-meta" else 64
        hi = meta_hi if kind == "zero-18-meta" else size
        start = int(rng.integers(0, hi - n))
        data = bytearray(p.read_bytes())
        data[start : start + n] = bytes(n)
        p.write_bytes(bytes(data))
        return f"{n} bytes zeroed at {start}"
    elif kind == "truncate":
        keep = int(rng.integers(0, size))
        p.write_bytes(p.read_bytes()[:keep])
        return f"to {keep}/{size} bytes"
    return kind


# ------------------------------------------------------------------ one case (forked child)


def _model_case(path: Path, mode: str, ctrl_path: Path, out: Path) -> None:
    import anndata as ad

    from scotm._manifest import verify
    from scotm.model import SCOTM

    if mode == "manifest+load":
        verify(path, required=MODEL_FILES)
    model = SCOTM.load(path)
    pred = model.predict(ad.read_h5ad(ctrl_path))
    X = pred.X.toarray() if hasattr(pred.X, "toarray") else np.asarray(pred.X)
    np.save(out, X)


def _h5ad_case(path: Path, out: Path) -> None:
    from scotm import validate

    adata = validate.read_h5ad(path)
    validate.check_matrix(adata)
    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    np.save(out, X)


def run_case(fn, args: tuple, timeout: float, result: Path) -> tuple[str, str]:
    """Run ``fn(*args)`` in a forked child; return (status, detail)."""
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            import torch

            torch.set_num_threads(1)
            fn(*args)
            result.write_text(json.dumps({"status": "ok"}))
        except BaseException as exc:  # noqa: BLE001 - classify everything
            from scotm._errors import ScotmInputError

            status = "error" if isinstance(exc, ScotmInputError) else "traceback"
            detail = str(exc) if status == "error" else traceback.format_exc(limit=3)
            result.write_text(json.dumps({"status": status, "detail": detail}))
        os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                return "crash", f"signal {os.WTERMSIG(status)}"
            r = json.loads(result.read_text()) if result.exists() else {"status": "crash"}
            return r["status"], r.get("detail", "")
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hang", f"over {timeout:g} s"


def _special(folder: str, names: list[str]) -> list[str]:
    """Names of FIFOs, devices and sockets: copying a FIFO would block."""

    def plain(n: str) -> bool:
        p = os.path.join(folder, n)
        return os.path.islink(p) or os.path.isfile(p) or os.path.isdir(p)

    return [n for n in names if not plain(n)]


def classify(status: str, detail: str, got: Path, want: np.ndarray) -> str:
    if status == "error":
        return "one-line error" if "\n" not in detail.strip() else "raw traceback"
    if status == "traceback":
        return "raw traceback"
    if status in ("hang", "crash"):
        return status
    X = np.load(got)
    same = X.shape == want.shape and np.array_equal(X, want, equal_nan=True)
    return "identical" if same else "silently different"


# ------------------------------------------------------------------ main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=200)
    p.add_argument("--h5ad", type=int, default=200)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/fuzz.json")
    p.add_argument("--work", help="working folder (default: a temporary one)")
    p.add_argument("--keep", help="copy each case that ends badly (not an error or identical) here")
    args = p.parse_args(argv)
    # read_h5ad's own HDF5 time limit must fire inside the harness's limit
    os.environ["SCOTM_READ_TIMEOUT"] = str(max(1.0, args.timeout - 2.5))
    work = Path(args.work or tempfile.mkdtemp(prefix="scotm-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    subprocess.run(
        [sys.executable, __file__, "--build-only", str(work)], check=True, env=os.environ.copy()
    )
    import scotm.model  # noqa: F401  (imported once, before forking)
    from scotm import validate  # noqa: F401

    rng = np.random.default_rng(args.seed)
    cases, counts = [], {m: Counter() for m in ("load", "manifest+load", "h5ad")}
    want_pred = {}
    for mode in ("load", "manifest+load"):
        r = work / "base.npy"
        status, detail = run_case(
            _model_case, (work / "model", mode, work / "ctrl.h5ad", r), 60, work / "r.json"
        )
        assert status == "ok", detail
        want_pred[mode] = np.load(r)
    assert np.array_equal(want_pred["load"], want_pred["manifest+load"])
    for i in range(args.models):
        kind = MODEL_KINDS[i % len(MODEL_KINDS)]
        case = work / f"m{i}"
        shutil.copytree(work / "model", case / "model", symlinks=True)
        what = corrupt_model(case / "model", kind, rng, work)
        row = {"case": f"m{i}", "kind": kind, "what": what}
        for mode in ("load", "manifest+load"):
            got = case / f"{mode}.npy"
            status, detail = run_case(
                _model_case,
                (case / "model", mode, work / "ctrl.h5ad", got),
                args.timeout,
                case / f"{mode}.json",
            )
            row[mode] = classify(status, detail, got, want_pred[mode])
            row[f"{mode} detail"] = detail.strip().splitlines()[-1][:200] if detail else ""
            counts[mode][row[mode]] += 1
            if args.keep and row[mode] not in ("one-line error", "identical"):
                shutil.copytree(
                    case / "model",
                    Path(args.keep) / f"m{i}",
                    symlinks=True,
                    dirs_exist_ok=True,
                    ignore=_special,
                )
        cases.append(row)
        shutil.rmtree(case, ignore_errors=True)
    base = work / "base_h5ad.npy"
    status, detail = run_case(_h5ad_case, (work / "ctrl.h5ad", base), 60, work / "h.json")
    assert status == "ok", detail
    want_x = np.load(base)
    for i in range(args.h5ad):
        kind = H5AD_KINDS[i % len(H5AD_KINDS)]
        path = work / f"h{i}.h5ad"
        shutil.copy(work / "ctrl.h5ad", path)
        what = corrupt_h5ad(path, kind, rng)
        got = work / f"h{i}.npy"
        status, detail = run_case(_h5ad_case, (path, got), args.timeout, work / f"h{i}.json")
        outcome = classify(status, detail, got, want_x)
        counts["h5ad"][outcome] += 1
        if args.keep and outcome not in ("one-line error", "identical"):
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(args.keep) / path.name)
        cases.append(
            {
                "case": f"h{i}",
                "kind": kind,
                "what": what,
                "h5ad": outcome,
                "detail": detail.strip().splitlines()[-1][:200] if detail else "",
            }
        )
        path.unlink()
    table = {m: {o: counts[m][o] for o in OUTCOMES} for m in counts}
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seconds": round(time.time() - t0, 1),
        "timeout_s": args.timeout,
        "table": table,
        "cases": cases,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"{'outcome':<20}" + "".join(f"{m:>15}" for m in table))
    for o in OUTCOMES:
        print(f"{o:<20}" + "".join(f"{table[m][o]:>15}" for m in table))
    print(f"\n{len(cases)} cases in {report['seconds']} s; details in {args.out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--build-only":
        build(Path(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
