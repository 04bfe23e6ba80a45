"""The thread policy: who picks the number of threads, and the OpenMP wait policy default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from scotm import ScotmInputError, _threads


def _in_fresh_python(code: str, **env) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_import_scotm_sets_passive_waiting_before_torch():
    code = "import os, sys, scotm; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    # torch is not imported by `import scotm`, so the policy is in place when it is
    assert _in_fresh_python(code) == "PASSIVE False"


def test_the_users_wait_policy_wins():
    code = "import os, scotm; print(os.environ['OMP_WAIT_POLICY'])"
    assert _in_fresh_python(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"


def test_set_wait_policy_says_whether_it_can_take_effect(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert _threads.set_wait_policy() is False
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert "torch" in sys.modules  # imported by this test module: too late to take effect
    assert _threads.set_wait_policy() is False
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_pick_threads_defaults_and_overrides(monkeypatch):
    monkeypatch.delenv(_threads.ENV_THREADS, raising=False)
    assert _threads.pick_threads(_threads.SMALL_NETWORK - 1) == 1
    assert _threads.pick_threads(1_110_288) == _threads.available_cpus()
    assert _threads.pick_threads(10, threads=3) == 3
    monkeypatch.setenv(_threads.ENV_THREADS, "2")
    assert _threads.pick_threads(10) == 2
    assert _threads.pick_threads(10, threads=1) == 1  # the argument beats the variable
    monkeypatch.setenv(_threads.ENV_THREADS, "two")
    with pytest.raises(ScotmInputError, match="SCOTM_THREADS='two'"):
        _threads.pick_threads(10)
    monkeypatch.setenv(_threads.ENV_THREADS, "0")
    with pytest.raises(ScotmInputError, match="at least 1"):
        _threads.pick_threads(10)
    with pytest.raises(ScotmInputError, match="threads must be at least 1"):
        _threads.pick_threads(10, threads=-2)


def test_thread_scope_sets_and_restores(monkeypatch):
    monkeypatch.delenv(_threads.ENV_THREADS, raising=False)
    before = torch.get_num_threads()
    with _threads.thread_scope(1_000) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), _threads.thread_scope(1_000, threads=2):
        assert torch.get_num_threads() == 2
        raise RuntimeError("training failed")
    assert torch.get_num_threads() == before


class _RecordingTrainer:
    """Stands in for a Lightning trainer: records the thread count ``fit`` ran under."""

    def fit(self, task, datamodule=None, ckpt_path=None):
        self.threads = torch.get_num_threads()


@pytest.mark.parametrize(
    ("n_out", "num_threads", "env", "expected"),
    [(10, None, None, 1), (10, 2, None, 2), (10, None, "2", 2), (10, 1, "2", 1)],
)
def test_runner_fit_uses_the_one_thread_policy(monkeypatch, n_out, num_threads, env, expected):
    from scotm.train.runner import Runner

    if env is None:
        monkeypatch.delenv(_threads.ENV_THREADS, raising=False)
    else:
        monkeypatch.setenv(_threads.ENV_THREADS, env)
    before = torch.get_num_threads()
    trainer, module = _RecordingTrainer(), torch.nn.Linear(4, n_out)  # 50 parameters
    Runner(patience=1, num_threads=num_threads).fit(trainer, None, None, module)
    assert trainer.threads == expected
    assert torch.get_num_threads() == before
    assert not module.training  # handed back in eval mode


def test_threads_flag_is_scotm_threads_while_the_command_runs(monkeypatch):
    import argparse

    from scotm.cli import build_parser
    from scotm.cli.common import threads_from_args

    monkeypatch.delenv(_threads.ENV_THREADS, raising=False)
    for command in ("run", "benchmark", "train"):
        assert build_parser().parse_args([command, "--threads", "1"]).threads == 1
    with threads_from_args(argparse.Namespace(threads=1)):
        assert _threads.pick_threads(_threads.SMALL_NETWORK * 10) == 1
    assert _threads.ENV_THREADS not in os.environ
    with pytest.raises(ScotmInputError, match="--threads must be 1 or more"):
        with threads_from_args(argparse.Namespace(threads=0)):
            pass
