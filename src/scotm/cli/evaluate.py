"""``scotm evaluate``: score a prediction with the pinned metrics of EVALUATION.md."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from .._errors import ScotmInputError
from .common import check_path, logger, read_h5ad, register


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ctrl", required=True, metavar="H5AD", help="control cells (log-normalised)")
    p.add_argument("--real", required=True, metavar="H5AD", help="real perturbed cells")
    p.add_argument("--pred", required=True, metavar="H5AD", help="predicted perturbed cells")
    p.add_argument("--out", metavar="JSON", help="also write the metrics to this JSON file")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a prediction with the pinned metrics of EVALUATION.md.

    Examples
    --------
    >>> main(["evaluate", "--ctrl", "c.h5ad", "--real", "r.h5ad", "--pred", "p.h5ad"])  # doctest: +SKIP
    """
    from .. import metrics, pp
    from .._io import write_text

    files = {"ctrl": args.ctrl, "real": args.real, "pred": args.pred}
    for name, path in files.items():
        check_path(path, f"--{name}")
    data = {name: read_h5ad(path, f"--{name}") for name, path in files.items()}
    for name, a in data.items():
        pp.check_finite(a, f"--{name} {files[name]}")
        if a.n_obs and a.n_vars and not pp.is_lognormalised(a):
            raise ScotmInputError(
                f"--{name} {files[name]} holds integer values (raw counts?); evaluate expects "
                "log-normalised expression: run scotm.pp.prepare (or normalize_total + log1p)"
            )
    ctrl = data["ctrl"]
    for name in ("real", "pred"):
        other = data[name]
        same = other.n_vars == ctrl.n_vars and (other.var_names == ctrl.var_names).all()
        if not same and ctrl.var_names.isin(other.var_names).all():
            logger.info("--%s: using its %d genes of --ctrl, in --ctrl's order", name, ctrl.n_vars)
            data[name] = other[:, ctrl.var_names].copy()
    scores = metrics.evaluate(ctrl, data["real"], data["pred"])
    width = max(map(len, scores))
    for name, value in scores.items():
        print(f"{name:<{width}}  {'-' if math.isnan(value) else f'{value:.4f}'}")
    if args.out:
        clean = {k: (None if math.isnan(v) else float(v)) for k, v in scores.items()}
        write_text(json.dumps(clean, indent=2) + "\n", Path(args.out).expanduser())
        print(f"\nmetrics: {args.out}")
    return 0


register(
    "evaluate",
    "score predicted cells against real ones with the pinned metrics",
    _evaluate_arguments,
    cmd_evaluate,
)
