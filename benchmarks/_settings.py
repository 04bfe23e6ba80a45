"""``--set KEY=VALUE`` for the benchmark scripts: parsed and checked as ``scotm train --set``.

A bad key or value ends the script with the parser's one-line usage error before any data are
read, not with a traceback (``kang_seeds.py`` keeps the raw strings for its workers and checks
them itself).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def settings_or_exit(parser: argparse.ArgumentParser, pairs: Sequence[str]) -> dict:
    """The checked settings of ``pairs``; ``parser.error`` (exit 2, one line) on a bad one."""
    from scotm._errors import ScotmInputError
    from scotm.cli.common import parse_settings

    try:
        return parse_settings(pairs)
    except ScotmInputError as exc:
        parser.error(str(exc))
