"""Checksummed model directories: tampered, truncated, foreign or unsafe files are refused."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scotm import _manifest
from scotm._errors import ScotmInputError
from scotm._manifest import MANIFEST_FILE, read_verified_bytes, verify, write_manifest

from ._synth import COPY_TOL


@pytest.fixture
def model_dir(tmp_path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "scotm.json").write_text(json.dumps({"format": "scotm", "var_names": ["a", "b"]}))
    (d / "weights.bin").write_bytes(bytes(range(256)) * 40)
    np.savez(d / "transport.npz", shifts=np.arange(12.0).reshape(3, 4))
    write_manifest(d)
    return d


def _refused(directory, pattern, **kw):
    with pytest.raises(ScotmInputError, match=pattern) as info:
        verify(directory, **kw)
    msg = str(info.value)
    assert "\n" not in msg and "save it again" in msg
    return msg


def test_roundtrip(model_dir):
    m = verify(model_dir, required=["scotm.json", "weights.bin"])
    assert sorted(m["files"]) == ["scotm.json", "transport.npz", "weights.bin"]
    assert m["files"]["weights.bin"]["size"] == 256 * 40
    data = read_verified_bytes(model_dir, "transport.npz", m)
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        # written by model_dir in this process and read back: no arithmetic
        np.testing.assert_allclose(z["shifts"], np.arange(12.0).reshape(3, 4), **COPY_TOL)


def test_flipped_byte(model_dir):
    raw = bytearray((model_dir / "weights.bin").read_bytes())
    raw[1000] ^= 0x01
    (model_dir / "weights.bin").write_bytes(bytes(raw))
    _refused(model_dir, r"weights\.bin does not match its checksum")
    with pytest.raises(ScotmInputError, match="does not match its checksum"):
        read_verified_bytes(model_dir, "weights.bin")


def test_truncated(model_dir):
    raw = (model_dir / "transport.npz").read_bytes()
    (model_dir / "transport.npz").write_bytes(raw[:-10])
    _refused(model_dir, rf"transport\.npz has {len(raw) - 10} bytes, the manifest says {len(raw)}")


def test_foreign_file_of_the_same_size(model_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "weights.bin").write_bytes(bytes(reversed(range(256))) * 40)
    shutil.copy(other / "weights.bin", model_dir / "weights.bin")
    _refused(model_dir, r"weights\.bin does not match its checksum \(changed, or from another")


def test_missing_file_and_missing_entry(model_dir):
    (model_dir / "transport.npz").unlink()
    _refused(model_dir, r"transport\.npz is missing")
    m = json.loads((model_dir / MANIFEST_FILE).read_text())
    del m["files"]["transport.npz"]
    (model_dir / MANIFEST_FILE).write_text(json.dumps(m))
    verify(model_dir)  # what is listed is intact ...
    _refused(model_dir, r"transport\.npz is not listed", required=["transport.npz"])  # ...


def test_extra_files_are_ignored(model_dir):
    (model_dir / "README.txt").write_text("notes")
    assert "README.txt" not in verify(model_dir)["files"]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (None, r"it has no manifest\.json"),
        (b"{not json", r"manifest\.json is not valid JSON"),
        (b"[1, 2]", r"manifest\.json is not a scotm manifest"),
        (b'{"format": "scotm-manifest", "algorithm": "sha256", "files": {}, "version": 9}', "9"),
        (
            b'{"format": "scotm-manifest", "algorithm": "sha256", "version": 1, '
            b'"files": {"w": {"size": -1, "sha256": "x"}}}',
            r"malformed entry for 'w'",
        ),
        (
            b'{"format": "scotm-manifest", "algorithm": "sha256", "version": 1, "files": '
            b'{"../x": {"size": 1, "sha256": "' + b"0" * 64 + b'"}}}',
            r"'\.\./x' is not a plain name",
        ),
    ],
    ids=["missing", "not-json", "not-manifest", "version", "malformed", "path-escape"],
)
def test_bad_manifest(model_dir, content, pattern):
    if content is None:
        (model_dir / MANIFEST_FILE).unlink()
    else:
        (model_dir / MANIFEST_FILE).write_bytes(content)
    _refused(model_dir, pattern)


def test_huge_manifest_is_not_read(model_dir):
    (model_dir / MANIFEST_FILE).write_bytes(b" " * (_manifest.MAX_MANIFEST_BYTES + 1))
    _refused(model_dir, r"manifest\.json has \d+ bytes, more than")


def test_max_bytes(model_dir):
    with pytest.raises(ScotmInputError, match=r"weights\.bin has 10240 bytes, more than 100"):
        read_verified_bytes(model_dir, "weights.bin", max_bytes=100)


_UNSAFE = r"""
import os, sys
from pathlib import Path
from scotm._manifest import verify, read_verified_bytes
from scotm._errors import ScotmInputError
d, name, kind = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
(d / name).unlink()
if kind == "fifo":
    os.mkfifo(d / name)
elif kind == "urandom":
    os.symlink("/dev/urandom", d / name)
elif kind == "outside":
    (d.parent / "secret").write_text("x")
    os.symlink(d.parent / "secret", d / name)
elif kind == "null":
    os.symlink("/dev/null", d / name)
elif kind == "directory":
    os.mkdir(d / name)
for fn in (verify, lambda d: read_verified_bytes(d, name)):
    try:
        fn(d)
    except ScotmInputError as exc:
        print(exc)
"""


@pytest.mark.parametrize(
    ("name", "kind", "pattern"),
    [
        ("scotm.json", "fifo", r"scotm\.json is a FIFO"),
        ("scotm.json", "urandom", r"scotm\.json is a symbolic link"),
        ("weights.bin", "outside", r"weights\.bin is a symbolic link"),
        ("weights.bin", "null", r"weights\.bin is a symbolic link"),
        ("transport.npz", "directory", r"transport\.npz is a directory"),
        (MANIFEST_FILE, "fifo", r"manifest\.json is a FIFO"),
        (MANIFEST_FILE, "urandom", r"manifest\.json is a symbolic link"),
    ],
    ids=["fifo", "urandom", "link-out", "dev-null", "dir", "manifest-fifo", "manifest-urandom"],
)
def test_unsafe_files_never_hang(model_dir, name, kind, pattern):
    """Run in a child with a time limit: a FIFO or /dev/urandom used to hang a load."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _UNSAFE, str(model_dir), name, kind],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and len(lines) == 2, out.stderr
    for line in lines:
        assert re.search(pattern, line), line


# ------------------------------------------------------------------ a real saved model


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import scotm
    from scotm.benchmark import Keys, holdout_split
    from scotm.model import SCOTM

    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=300, n_genes=40, seed=1), None)
    fold = holdout_split(adata, "type2", Keys())
    model = SCOTM(fold.train, hidden=(32, 16), n_latent=4, target_steps=100)
    model.train(progress=False)
    path = tmp_path_factory.mktemp("saved") / "model"
    model.save(path)
    write_manifest(path)
    return path


def _tamper(path: Path, how: str) -> None:
    if how == "flip-weight-byte":
        raw = bytearray((path / "weights.safetensors").read_bytes())
        raw[len(raw) // 2] ^= 0x10
        (path / "weights.safetensors").write_bytes(bytes(raw))
    elif how == "swap-genes":
        meta = json.loads((path / "scotm.json").read_text())
        g = meta["var_names"]
        g[0], g[1] = g[1], g[0]
        (path / "scotm.json").write_text(json.dumps(meta, indent=1))
    elif how == "nan-shifts":
        with np.load(path / "transport.npz") as z:
            arrays = dict(z)
        arrays["shifts"][0, 0] = np.nan
        np.savez(path / "transport.npz", **arrays)
    elif how == "truncate-transport":
        raw = (path / "transport.npz").read_bytes()
        (path / "transport.npz").write_bytes(raw[: len(raw) // 2])


@pytest.mark.parametrize(
    ("how", "pattern"),
    [
        ("flip-weight-byte", r"weights\.safetensors does not match its checksum"),
        ("swap-genes", r"scotm\.json (does not match its checksum|has \d+ bytes)"),
        ("nan-shifts", r"transport\.npz (does not match its checksum|has \d+ bytes)"),
        ("truncate-transport", r"transport\.npz has \d+ bytes, the manifest says"),
    ],
    ids=["flip-weight-byte", "swap-genes", "nan-shifts", "truncate-transport"],
)
def test_tampered_saved_model_is_detected(saved_model, tmp_path, how, pattern):
    from scotm.model import SCOTM

    path = tmp_path / "model"
    shutil.copytree(saved_model, path)
    verify(path, required=["scotm.json", "weights.safetensors", "transport.npz"])
    _tamper(path, how)
    _refused(path, pattern)
    with pytest.raises(ScotmInputError, match=pattern) as info:  # the load checks it too
        SCOTM.load(path)
    assert "\n" not in str(info.value)


def test_save_writes_the_manifest_and_load_verifies_it(tmp_path):
    import scotm
    from scotm.model import FORMAT_VERSION, SCOTM

    adata = scotm.pp.prepare(scotm.datasets.toy(n_cells=120, n_genes=12, seed=3), None)
    model = SCOTM(adata, hidden=(8,), n_latent=2, max_epochs=1)
    model.train(progress=False)
    model.save(tmp_path / "m")
    m = verify(tmp_path / "m", required=["scotm.json", "weights.safetensors", "transport.npz"])
    assert (
        FORMAT_VERSION == 3
        and json.loads((tmp_path / "m" / "scotm.json").read_text())["format_version"]
        == FORMAT_VERSION
    )
    # 120 cells: the small-data blend ("auto") is saved with the model, in the manifest
    assert set(m["files"]) == {"scotm.json", "weights.safetensors", "transport.npz", "blend.npz"}
    assert SCOTM.load(tmp_path / "m").is_trained


def test_saved_model_loads_from_verified_bytes(saved_model):
    """What the wired load does: every file through read_verified_bytes."""
    from safetensors.torch import load as load_safetensors

    m = verify(saved_model)
    meta = json.loads(read_verified_bytes(saved_model, "scotm.json", m))
    state = load_safetensors(read_verified_bytes(saved_model, "weights.safetensors", m))
    with np.load(io.BytesIO(read_verified_bytes(saved_model, "transport.npz", m))) as z:
        assert z["shifts"].shape[0] == z["codes"].shape[0] > 0
    assert meta["format"] == "scotm" and len(state) > 0
