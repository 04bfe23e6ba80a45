"""Time one optimiser step of scotm's default network, idle and beside a CPU-bound torch job.

The network: ``scotm.module.VAEModule(2000, hidden=(256, 128), n_latent=64)`` (the default
2000-256-128-64 autoencoder, MMD prior), Adam, batch 128, random inputs. Each condition runs in
a fresh subprocess, because ``OMP_WAIT_POLICY`` is read once, when torch's OpenMP runtime
starts. Conditions: torch threads 1 and 2, ``OMP_WAIT_POLICY`` unset or ``PASSIVE``, each
alone and next to a competitor: another process doing 2-thread float32 matmuls (default
OpenMP policy), the "other CPU-bound multi-threaded torch job" of issue 13.

Reported: the median time per step over ``--steps`` steps after 20 warm-up steps, for each of
``--rounds`` rounds (every condition once per round, so slow drifts in the machine's load hit
all conditions alike), and the median and range over the rounds.

Run (from the repository root, PYTHONPATH=src)::

    nice -n 10 python benchmarks/contention.py --steps 50 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

STEP = """
import time, torch
from scotm.module import VAEModule
torch.set_num_threads({threads})
torch.manual_seed(0)
m = VAEModule(2000, hidden=(256, 128), n_latent=64)
opt = torch.optim.Adam(m.parameters(), 1e-3)
x = torch.randn(128, 2000)
times = []
for i in range({steps} + 20):
    t = time.perf_counter()
    loss = m.loss(x)["loss"]
    opt.zero_grad()
    loss.backward()
    opt.step()
    times.append(time.perf_counter() - t)
times = sorted(times[20:])
print(times[len(times) // 2] * 1e3)
"""

COMPETITOR = """
import torch
torch.set_num_threads(2)
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a.T / 512)
"""


def _env(wait_policy: str | None) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    return env


def step_ms(threads: int, wait_policy: str | None, steps: int) -> float:
    """Median milliseconds per optimiser step in a fresh process."""
    code = STEP.format(threads=threads, steps=steps)
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(wait_policy), capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(out.stderr)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/contention.json"))
    a = ap.parse_args(argv)
    rows = []
    for rnd in range(a.rounds):
        for busy in (False, True):
            comp = None
            if busy:  # the competitor keeps the default (active) OpenMP wait policy
                comp = subprocess.Popen([sys.executable, "-c", COMPETITOR], env=_env(None))
                time.sleep(3)
            try:
                for threads in (1, 2):
                    for policy in (None, "PASSIVE"):
                        ms = step_ms(threads, policy, a.steps)
                        row = {
                            "round": rnd,
                            "competitor": busy,
                            "threads": threads,
                            "OMP_WAIT_POLICY": policy or "unset",
                            "ms_per_step": round(ms, 2),
                            "load1": round(os.getloadavg()[0], 2),
                        }
                        print(json.dumps(row), flush=True)
                        rows.append(row)
            finally:
                if comp is not None:
                    comp.kill()
                    comp.wait()
    summary = {}
    for r in rows:
        key = f"competitor={r['competitor']} threads={r['threads']} policy={r['OMP_WAIT_POLICY']}"
        summary.setdefault(key, []).append(r["ms_per_step"])
    summary = {
        k: {"median_ms": sorted(v)[len(v) // 2], "min_ms": min(v), "max_ms": max(v)}
        for k, v in summary.items()
    }
    print(json.dumps(summary, indent=1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"rounds": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
