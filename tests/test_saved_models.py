"""Models saved in format 2 by the code before the redesign (issue 10) still load and predict.

``tests/data/saved_v2/`` was written by ``tests/data/make_saved_models.py`` at commit bfe8099:
one plain model and one with a cell embedding, two perturbations and the response network.
Loading rebuilds each through today's constructor path; its predictions must match the stored
ones within float32 rounding (the same tolerance as ``test_compat.py``: about 20 rounding
steps at the values involved), for every perturbation the model serves, an unseen one
included.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from scotm.model import SCOTM

DATA = Path(__file__).parent / "data"
ATOL = 1e-5
RTOL = 1e-6


@pytest.fixture(scope="module")
def generator():
    sys.path.insert(0, str(DATA))
    try:
        import make_saved_models
    finally:
        sys.path.remove(str(DATA))
    return make_saved_models


@pytest.mark.parametrize("name", ["plain", "priors"])
def test_format_2_model_loads_and_predicts_the_same(generator, name):
    _, ctrl = generator.data()
    model = SCOTM.load(DATA / "saved_v2" / name)
    assert model.is_trained and (model.response is not None) == (name == "priors")
    now = generator.predictions(model, ctrl)
    with np.load(DATA / "saved_v2" / f"{name}_pred.npz") as before:
        assert set(before) == set(now)
        for key in before:
            np.testing.assert_allclose(now[key], before[key], rtol=RTOL, atol=ATOL, err_msg=key)


def test_format_2_model_warns_that_it_has_no_checksums(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="scotm"):
        SCOTM.load(DATA / "saved_v2" / "plain")
    assert any("carry no checksums (re-save" in r.getMessage() for r in caplog.records)


_UNSAFE_V2 = r"""
import os, shutil, sys
from pathlib import Path
from scotm.model import SCOTM
from scotm._errors import ScotmInputError
src, d, name, kind = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
shutil.copytree(src, d)
(d / name).unlink()
if kind == "fifo":
    os.mkfifo(d / name)
elif kind == "urandom":
    os.symlink("/dev/urandom", d / name)
else:
    (d.parent / "outside.npz").write_bytes((src / name).read_bytes())
    os.symlink(d.parent / "outside.npz", d / name)
try:
    SCOTM.load(d)
except ScotmInputError as exc:
    print(exc)
"""


@pytest.mark.parametrize(
    ("name", "kind", "pattern"),
    [
        ("scotm.json", "fifo", r"scotm\.json is a FIFO"),
        ("scotm.json", "urandom", r"scotm\.json is a symbolic link"),
        ("transport.npz", "outside", r"transport\.npz is a symbolic link"),
    ],
    ids=["v2-fifo-scotm-json", "v2-urandom-scotm-json", "v2-link-out-transport"],
)
def test_format_2_files_are_read_safely(tmp_path, name, kind, pattern):
    """A format-2 directory has no checksums, but is read through the same safe reader."""
    import os
    import re
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [str(DATA / "saved_v2" / "plain"), str(tmp_path / "m"), name, kind]
    out = subprocess.run(
        [sys.executable, "-c", _UNSAFE_V2, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and len(lines) == 1, out.stderr
    assert re.search(pattern, lines[0]), lines[0]
