"""Threads and the OpenMP wait policy for training on a shared CPU.

On a CPU shared with other work, torch's OpenMP threads busy-wait for each other between
parallel regions and fight the other processes for the cores: with 2 threads and the default
wait policy one optimiser step of the default 2000-256-128-64 network was about 20x slower on
the shared 2-core machine than with passive waiting (BENCHMARKS.md, "CPU contention").
``OMP_WAIT_POLICY=PASSIVE`` makes idle threads sleep instead. The OpenMP runtime reads it
once, when torch is first imported, so :func:`set_wait_policy` runs from ``scotm/__init__``
(which imports no torch) and only takes effect if ``scotm`` is imported before ``torch``.

The number of threads: ``threads`` if given, else the ``SCOTM_THREADS`` environment
variable, else one thread for networks under :data:`SMALL_NETWORK` parameters (they lose more
to thread hand-offs than they gain) and every CPU this process may use above.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ._errors import ScotmInputError

#: Environment variable that overrides the number of training threads.
ENV_THREADS = "SCOTM_THREADS"
#: Networks with fewer parameters than this train on one thread.
SMALL_NETWORK = 200_000


def set_wait_policy(policy: str = "PASSIVE") -> bool:
    """Set ``OMP_WAIT_POLICY`` to ``policy`` unless the user has set it.

    Returns
    -------
    Whether the policy was set now and can still take effect (torch not imported yet).

    Examples
    --------
    >>> import os
    >>> os.environ.get("OMP_WAIT_POLICY") is not None  # scotm's import already set it
    True
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = policy
    return "torch" not in sys.modules


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def pick_threads(n_params: int, threads: int | None = None) -> int:
    """Number of torch threads to train a network of ``n_params`` parameters with.

    Parameters
    ----------
    n_params
        Trainable parameters of the network.
    threads
        The user's choice (``--threads``); ``None`` or 0 reads ``SCOTM_THREADS``, then falls
        back to 1 under :data:`SMALL_NETWORK` parameters and :func:`available_cpus` above.

    Examples
    --------
    >>> pick_threads(50_000, threads=3)
    3
    >>> pick_threads(50_000) if "SCOTM_THREADS" not in os.environ else 1
    1
    """
    if threads:
        return _check(threads, "threads")
    env = os.environ.get(ENV_THREADS, "").strip()
    if env:
        if not env.lstrip("-").isdigit():
            raise ScotmInputError(
                f"{ENV_THREADS}={env!r} is not a whole number; set it to e.g. 1 or 2, or unset it"
            )
        return _check(int(env), ENV_THREADS)
    return 1 if n_params < SMALL_NETWORK else available_cpus()


def _check(threads: int, what: str) -> int:
    if threads < 1:
        raise ScotmInputError(f"{what} must be at least 1 (got {threads})")
    return threads


@contextmanager
def thread_scope(n_params: int, threads: int | None = None) -> Iterator[int]:
    """Run a block with :func:`pick_threads` torch threads, restoring the count after.

    Examples
    --------
    >>> import torch
    >>> with thread_scope(1_000, threads=1) as n:
    ...     torch.get_num_threads() == n == 1
    True
    """
    import torch

    before = torch.get_num_threads()
    n = pick_threads(n_params, threads)
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)
