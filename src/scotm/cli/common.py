"""Shared parts of the ``scotm`` command line: the command registry, the shared flags, data
loading, settings from ``--set``, logging and the one-line errors.

Every subcommand is a pair of functions, one adding its flags to a parser and one running it,
registered with :func:`register` by its command-group module (:mod:`.bench`, :mod:`.model`,
:mod:`.evaluate`, :mod:`.embed`). Any :class:`scotm.ScotmInputError` ends the program with one
line, ``scotm: error: <message>``, on stderr and exit code 2, never a traceback; the library's
messages name arguments (``argument control``), which :func:`to_flags` turns into flags.

Heavy libraries (scanpy, POT, torch) are imported inside the command functions, so that
``scotm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import ScotmInputError

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

    from ..design import Keys

logger = logging.getLogger("scotm")

EXIT_INPUT_ERROR = 2
#: library argument names -> the flags that set them
FLAGS = {
    "condition_key": "--condition-key",
    "control": "--control",
    "perturbed": "--perturbed",
    "cell_type_key": "--cell-type-key",
    "holdout": "--holdout",
    "methods": "--methods",
    "perturbation_embeddings": "--perturbation-embeddings",
    "perturbation_embedding": "--perturbation-embeddings (a CSV with a row for it)",
    "perturbation": "--perturbation",
    "overwrite": "--overwrite",
    "out_dir": "--out",
}


def to_flags(message: str) -> str:
    """A library message with each ``argument NAME`` replaced by its flag.

    Examples
    --------
    >>> to_flags("label 'x' not found; set it with argument control")
    "label 'x' not found; set it with --control"
    """
    return re.sub(r"\bargument (\w+)", lambda m: FLAGS.get(m.group(1), m.group(0)), message)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, a function adding its flags, and the function running it."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def register(
    name: str,
    help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    """Add (or replace) subcommand ``name``.

    Examples
    --------
    >>> register("hello", "say hello", lambda p: None, lambda args: 0)  # doctest: +SKIP
    """
    COMMANDS[name] = Command(help=help, add_arguments=add_arguments, run=run)


# --------------------------------------------------------------------------- shared flags


def _verbosity_parent(suppress: bool) -> argparse.ArgumentParser:
    """``--quiet``/``--verbose``, accepted before or after the subcommand."""
    p = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else False
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", default=default, help="warnings only")
    g.add_argument("-v", "--verbose", action="store_true", default=default, help="debug output")
    return p


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """The input flags shared by every subcommand that reads a data set.

    Examples
    --------
    >>> p = argparse.ArgumentParser(); add_data_arguments(p)
    >>> p.parse_args([]).control
    'control'
    """
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        metavar="PATH",
        help="an .h5ad file, raw counts or log-normalised (default: Kang et al. 2018 IFN-beta "
        "PBMCs, fetched and cached on first use)",
    )
    g.add_argument(
        "--condition-key",
        default="condition",
        help="obs column of the condition (default: %(default)s)",
    )
    g.add_argument(
        "--control", default="control", help="label of control cells (default: %(default)s)"
    )
    g.add_argument(
        "--perturbed", default="stimulated", help="label of perturbed cells (default: %(default)s)"
    )
    g.add_argument(
        "--cell-type-key",
        default="cell_type",
        help="obs column of the cell type (default: %(default)s)",
    )
    g.add_argument(
        "--n-top-genes",
        type=int,
        default=2000,
        metavar="N",
        help="highly variable genes to keep (default 2000; 0 keeps every gene)",
    )
    g.add_argument(
        "--input-scale",
        choices=("auto", "counts", "log"),
        default="auto",
        help="what --data holds: raw counts, log-normalised values, or auto (detected from "
        "every value; default)",
    )


def add_benchmark_arguments(
    p: argparse.ArgumentParser,
    *,
    methods: str,
    holdout: str | None,
    out: str,
    methods_help: str | None = None,
    holdout_help: str | None = None,
) -> None:
    """The data flags plus ``--methods``, ``--holdout`` and ``--out`` with the given defaults.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_benchmark_arguments(p, methods="identity", holdout="all", out="o")
    >>> p.parse_args([]).methods
    'identity'
    """
    add_data_arguments(p)
    g = p.add_argument_group("benchmark")
    g.add_argument(
        "--methods",
        default=methods,
        help=f"comma-separated methods (default: {methods_help or methods})",
    )
    g.add_argument(
        "--holdout",
        default=holdout,
        metavar="TYPE[,TYPE...]|all",
        help="cell type(s) to hold out, comma-separated, or 'all' for every fold "
        f"(default: {holdout_help or holdout})",
    )
    g.add_argument("--out", default=out, metavar="DIR", help=f"output directory (default: {out})")
    add_threads_argument(g)
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a non-empty --out as a whole (the old run stays until the new one is "
        "complete)",
    )
    g.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write DIR/report.html: the metrics, per-fold bar charts and each fold's figures, "
        "one self-contained page (default: on)",
    )


def add_threads_argument(g: argparse._ActionsContainer) -> None:
    """``--threads N``: torch threads while training (the ``num_threads`` setting).

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_threads_argument(p)
    >>> p.parse_args(["--threads", "1"]).threads
    1
    """
    g.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch threads while training (default: the SCOTM_THREADS environment variable, "
        "else 1 for networks under 200,000 parameters and every CPU above)",
    )


@contextmanager
def threads_from_args(args: argparse.Namespace) -> Iterator[None]:
    """Within the block, ``--threads N`` is ``SCOTM_THREADS=N`` (which every model reads when
    its ``num_threads`` setting is unset); the environment is restored after.

    Examples
    --------
    >>> with threads_from_args(argparse.Namespace(threads=1)):
    ...     os.environ["SCOTM_THREADS"]
    '1'
    """
    threads = getattr(args, "threads", None)
    if threads is None:
        yield
        return
    if threads < 1:
        raise ScotmInputError(f"--threads must be 1 or more, got {threads}")
    from .._threads import ENV_THREADS

    before = os.environ.get(ENV_THREADS)
    os.environ[ENV_THREADS] = str(threads)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_THREADS, None)
        else:
            os.environ[ENV_THREADS] = before


# --------------------------------------------------------------------------- shared helpers


def keys_from_args(args: argparse.Namespace) -> Keys:
    """The data flags' keys and labels as :class:`scotm.design.Keys`.

    Examples
    --------
    >>> p = argparse.ArgumentParser(); add_data_arguments(p)
    >>> keys_from_args(p.parse_args(["--control", "DMSO"])).control
    'DMSO'
    """
    from ..design import Keys

    return Keys(
        condition_key=args.condition_key,
        control=args.control,
        perturbed=args.perturbed,
        cell_type_key=args.cell_type_key,
    )


def check_path(path: str | Path, what: str = "--data") -> Path:
    """Fail fast, before any heavy import, on an input file that is not there.

    Examples
    --------
    >>> check_path("data.h5ad")  # doctest: +SKIP
    """
    from .._io import input_file

    return input_file(path, what)


def read_h5ad(path: str | Path, what: str = "--data") -> ad.AnnData:
    """:func:`scotm.validate.read_h5ad`: any way the file fails (a hang too) is one line.

    Examples
    --------
    >>> adata = read_h5ad("data.h5ad")  # doctest: +SKIP
    """
    from ..validate import read_h5ad as _read

    return _read(check_path(path, what), what)


def read_data(args: argparse.Namespace, keys: Keys | None = None) -> tuple[ad.AnnData, Keys]:
    """Read ``--data`` (or Kang) as it is, and check its obs keys and condition labels (those
    of ``keys``, else of the data flags).

    Examples
    --------
    >>> adata, keys = read_data(args)  # doctest: +SKIP
    """
    from .. import datasets

    keys = keys or keys_from_args(args)
    if args.n_top_genes < 0:
        raise ScotmInputError(f"--n-top-genes must be 0 or more, got {args.n_top_genes}")
    if args.data is None:
        logger.info("Loading Kang et al. 2018 (built in; --data PATH for your own .h5ad)")
        adata = datasets.kang()
    else:
        logger.info("Loading %s", args.data)
        adata = read_h5ad(args.data)
    keys.check(adata)
    return adata, keys


def prepare_data(adata: ad.AnnData, args: argparse.Namespace) -> ad.AnnData:
    """``scotm.pp.prepare`` with ``--n-top-genes`` (it also refuses NaN and negative values).

    Examples
    --------
    >>> adata = prepare_data(adata, args)  # doctest: +SKIP
    """
    from .. import pp

    logger.info("Preprocessing %d cells x %d genes", adata.n_obs, adata.n_vars)
    scale = getattr(args, "input_scale", "auto")
    adata = pp.prepare(adata, n_top_genes=args.n_top_genes or None, input_scale=scale)
    logger.info("Prepared %d cells x %d genes", adata.n_obs, adata.n_vars)
    return adata


def load_data(args: argparse.Namespace) -> tuple[ad.AnnData, Keys]:
    """The data flags in, prepared (log-normalised, HVG) data and its keys out.

    Examples
    --------
    >>> adata, keys = load_data(args)  # doctest: +SKIP
    """
    adata, keys = read_data(args)
    return prepare_data(adata, args), keys


def parse_settings(pairs: Sequence[str]) -> dict:
    """``--set key=value`` pairs as checked model settings (values parsed by each setting's type).

    Examples
    --------
    >>> parse_settings(["n_latent=32", "hidden=64,32"])
    {'n_latent': 32, 'hidden': (64, 32)}
    """
    from ..model.config import Settings

    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScotmInputError(f"--set takes key=value, got '{pair}' (e.g. --set prior=kl)")
        settings[key.strip()] = value.strip()
    checked = Settings(**settings).as_dict()
    return {k: tuple(v) if isinstance(v, list) else v for k, v in checked.items() if k in settings}


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"{self.formatTime(record, '%H:%M:%S')} {prefix}{record.getMessage()}"


def setup_logging(quiet: bool = False, verbose: bool = False) -> logging.Handler:
    """Progress lines of the ``scotm`` logger on stderr; returns the handler it added.

    Examples
    --------
    >>> handler = setup_logging(quiet=True)  # doctest: +SKIP
    """
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler


def error(message: str) -> int:
    """Print ``message`` as one ``scotm: error:`` line (arguments named as flags); exit code 2.

    Examples
    --------
    >>> error("label 'x' not found; set it with argument control")  # doctest: +SKIP
    2
    """
    line = " ".join(to_flags(str(message)).split())  # one line, whatever the message holds
    print(f"scotm: error: {line}", file=sys.stderr)
    return EXIT_INPUT_ERROR
