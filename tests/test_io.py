"""Atomic writes: a failure leaves neither a partial file nor a temporary behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from scotm import _io
from scotm._io import atomic_dir, atomic_path, write_h5ad, write_text


def test_atomic_path_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_atomic_path_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_failure_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    write_text("old", target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_dir(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("2")
        raise RuntimeError("crash")
    assert (target / "a").read_text() == "1"
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_write_h5ad_roundtrip(tmp_path):
    a = ad.AnnData(X=np.arange(6, dtype=np.float32).reshape(2, 3))
    write_h5ad(a, tmp_path / "a.h5ad")
    np.testing.assert_array_equal(ad.read_h5ad(tmp_path / "a.h5ad").X, a.X)
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5ad"]


# ------------------------------------------------------------- durability and crash safety


def test_exchange_swaps_two_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("A")
    (b / "f").write_text("B")
    if not _io.exchange(a, b):
        pytest.skip("this kernel or file system has no renameat2(RENAME_EXCHANGE)")
    assert ((a / "f").read_text(), (b / "f").read_text()) == ("B", "A")


def test_atomic_dir_without_exchange_falls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "exchange", lambda a, b: False)
    target = tmp_path / "model"
    for v in ("1", "2"):
        with atomic_dir(target) as tmp:
            (tmp / "a").write_text(v)
    assert (target / "a").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_atomic_dir_fsyncs_every_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real = _io.fsync_path
    monkeypatch.setattr(_io, "fsync_path", lambda p: (synced.append(Path(p).name), real(p)))
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "sub").mkdir()
        (tmp / "a").write_text("1")
        (tmp / "sub" / "b").write_text("2")
    assert {"a", "b", "sub", tmp.name, tmp_path.name} <= set(synced)


def test_leftovers_of_dead_writers_are_cleaned(tmp_path):
    target = tmp_path / "model"
    dead = _dead_pid()
    stale = [
        tmp_path / f".model.{dead}.abcd1234.tmp",
        tmp_path / f".model.old-{dead}",
        tmp_path / ".model.k2j3h4g5.tmp",  # the name older versions used
    ]
    for p in stale:
        p.mkdir()
        (p / "x").write_text("stale")
    live = tmp_path / f".model.{os.getpid()}.zzzz9999.tmp"  # a writer still running
    live.mkdir()
    other = tmp_path / ".modelx.k2j3h4g5.tmp"  # another path's temporary
    other.mkdir()
    assert _io.leftovers(target) == sorted(stale)
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model", live.name, other.name])


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


_WRITER = r"""
import sys
from scotm._io import atomic_dir
path, n = sys.argv[1], int(sys.argv[2])
version = 0
while True:
    version += 1
    with atomic_dir(path) as tmp:
        for i in range(n):
            (tmp / f"part{i}").write_bytes(str(version).encode() * 40_000)
        (tmp / "done").write_text(str(version))
    if version == 1:  # one new model is in place: from here on, kills land mid-save
        print("go", flush=True)
"""


def _complete_version(path: Path, n: int) -> int:
    """The version a model directory holds, asserting it is complete and not mixed."""
    names = sorted(p.name for p in path.iterdir())
    assert names == sorted([*(f"part{i}" for i in range(n)), "done"]), names
    version = (path / "done").read_text()
    for i in range(n):
        data = (path / f"part{i}").read_bytes()
        assert data == version.encode() * 40_000, f"part{i} is not version {version}"
    return int(version)


def test_sigkill_mid_save_never_loses_or_mixes_a_model(tmp_path):
    """SIGKILL a process saving a model over and over: the path always holds one complete
    model (old or new), and the next save leaves no temporary behind."""
    n, target = 4, tmp_path / "model"
    with atomic_dir(target) as tmp:  # version 0: a model exists before the first kill
        for i in range(n):
            (tmp / f"part{i}").write_bytes(b"0" * 40_000)
        (tmp / "done").write_text("0")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    rng = np.random.default_rng(0)
    versions, with_leftovers = [], 0
    for _ in range(30):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), str(n)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout.readline().strip() == b"go"
        time.sleep(float(rng.uniform(0.0, 0.2)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        versions.append(_complete_version(target, n))
        assert versions[-1] >= 1  # the writer's first save landed whole
        with_leftovers += bool(_io.leftovers(target))
        with atomic_dir(target) as tmp:  # the next save: same model back, leftovers gone
            for p in target.iterdir():
                (tmp / p.name).write_bytes(p.read_bytes())
        assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert with_leftovers > 0, "no kill landed mid-save: the test did not exercise a crash"


def test_write_h5ad_under_pandas_string_arrays(tmp_path):
    """pandas 3 makes text columns StringArrays; anndata refuses them unless opted in.

    Found on a machine with pandas 3: `scotm predict` failed writing its output. pandas'
    ``future.infer_string`` gives the same arrays under pandas 2.
    """
    import anndata as ad
    import numpy as np
    import pandas as pd

    from scotm._io import write_h5ad

    with pd.option_context("future.infer_string", True):
        obs = pd.DataFrame({"cell_type": ["B", "T", "NK"]}, index=["a", "b", "c"])
        adata = ad.AnnData(np.ones((3, 2), dtype=np.float32), obs=obs)
        assert not isinstance(adata.obs["cell_type"].dtype, np.dtype)  # a pandas StringDtype
        write_h5ad(adata, tmp_path / "x.h5ad")
    back = ad.read_h5ad(tmp_path / "x.h5ad")
    assert list(back.obs_names) == ["a", "b", "c"]
    assert list(back.obs["cell_type"]) == ["B", "T", "NK"]
