"""The ``scotm`` command line, one small module per command group on top of the library.

- :mod:`.common`: the command registry, shared flags, data loading, logging, one-line errors;
- :mod:`.model`: ``train``, ``predict``; :mod:`.bench`: ``run``, ``benchmark``;
- :mod:`.evaluate`: ``evaluate``; :mod:`.embed`: ``embed``.

A new subcommand is a pair of functions registered with :func:`register`::

    def _hello_arguments(p: argparse.ArgumentParser) -> None:
        add_data_arguments(p)

    def cmd_hello(args: argparse.Namespace) -> int:
        adata, keys = load_data(args)
        return 0

    register("hello", "say hello", _hello_arguments, cmd_hello)
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import warnings
from collections.abc import Sequence

from .. import __version__
from .._errors import ScotmInputError
from . import model as _model  # noqa: F401  (registers train, predict)

from . import bench as _bench  # noqa: F401  (registers run, benchmark)  # isort: skip
from . import evaluate as _evaluate  # noqa: F401  # isort: skip
from . import embed as _embed  # noqa: F401  # isort: skip
from .bench import BASELINE_METHODS, KANG_DEFAULT_HOLDOUT, RUN_METHODS
from .common import (
    COMMANDS,
    EXIT_INPUT_ERROR,
    Command,
    _verbosity_parent,
    add_benchmark_arguments,
    add_data_arguments,
    check_path,
    error,
    keys_from_args,
    load_data,
    logger,
    parse_settings,
    read_data,
    read_h5ad,
    register,
    setup_logging,
    threads_from_args,
)
from .model import parse_perturbed

__all__ = [
    "BASELINE_METHODS",
    "COMMANDS",
    "EXIT_INPUT_ERROR",
    "EXIT_RUNTIME_ERROR",
    "KANG_DEFAULT_HOLDOUT",
    "RUN_METHODS",
    "Command",
    "add_benchmark_arguments",
    "add_data_arguments",
    "build_parser",
    "check_path",
    "keys_from_args",
    "load_data",
    "main",
    "parse_perturbed",
    "parse_settings",
    "read_data",
    "read_h5ad",
    "register",
    "setup_logging",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``scotm`` parser with every registered subcommand.

    Examples
    --------
    >>> build_parser().parse_args(["run"]).command
    'run'
    """
    parser = argparse.ArgumentParser(
        prog="scotm",
        description="Predict single-cell perturbation responses in cell types never seen "
        "perturbed (MMD-VAE + latent optimal transport), and benchmark them.",
        parents=[_verbosity_parent(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"scotm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=cmd.help,
            description=cmd.help,
            parents=[_verbosity_parent(suppress=True)],
        )
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


#: exit code of a failure that is not the input's fault (input and usage errors exit 2)
EXIT_RUNTIME_ERROR = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``scotm`` command line; returns the exit code.

    0 on success, 2 (:data:`EXIT_INPUT_ERROR`) for usage and input errors, 1
    (:data:`EXIT_RUNTIME_ERROR`) for any other failure; each is one ``scotm: error:`` line,
    with the traceback only under ``--verbose``.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = setup_logging(quiet=args.quiet, verbose=args.verbose)
    try:
        with warnings.catch_warnings():
            if not args.verbose:
                # library chatter (anndata/scanpy FutureWarnings, ...) drowns the progress lines
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                # anndata's UserWarnings (duplicated names, ...) would add lines to a one-line
                # error; the checks say the same in their own line
                warnings.simplefilter("ignore", UserWarning)
            if getattr(args, "data", None) is not None:
                check_path(args.data)  # before the command imports scanpy/torch (seconds)
            with threads_from_args(args):  # --threads N: SCOTM_THREADS=N while it runs
                return args._run(args)
    except ScotmInputError as exc:
        return error(str(exc))
    except OSError as exc:  # an input or output path that cannot be read or written
        return error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except KeyboardInterrupt:
        print("scotm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a runtime failure, not the user's input: exit 1
        if args.verbose:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        print(f"scotm: error: {line} (run with --verbose for the traceback)", file=sys.stderr)
        return EXIT_RUNTIME_ERROR
    finally:  # leave the process as it was: main() is also called in-process (tests, notebooks)
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
