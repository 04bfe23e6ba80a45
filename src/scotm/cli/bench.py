"""``scotm run`` and ``scotm benchmark``: the model beside the baselines, fold by fold."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import ScotmInputError
from .common import (
    add_benchmark_arguments,
    keys_from_args,
    logger,
    parse_settings,
    prepare_data,
    read_data,
    register,
)

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

    from ..design import Keys

KANG_DEFAULT_HOLDOUT = "CD14+ Monocytes"
BASELINE_METHODS = "identity,mean_shift,pca_ot"
RUN_METHODS = "scotm," + BASELINE_METHODS


def parse_methods(text: str) -> list[str]:
    """``--methods`` as a list of registered methods.

    Examples
    --------
    >>> parse_methods("identity, pca_ot,identity")
    ['identity', 'pca_ot']
    """
    from ..benchmark import check_methods

    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise ScotmInputError("--methods is empty; give e.g. --methods identity,mean_shift")
    return check_methods(methods)


PERTURBED_HELP = (
    "label of perturbed cells (default: %(default)s); 'all': every label other than --control, "
    "one model for all of them (folds over cell types, rows per fold and perturbation); "
    "A,B: those perturbations"
)


def perturbed_keys(args: argparse.Namespace) -> Keys:
    """The data flags' keys, ``--perturbed all`` as ``None`` and ``A,B`` as a tuple.

    Examples
    --------
    >>> p = argparse.ArgumentParser(); _benchmark_arguments(p)
    >>> perturbed_keys(p.parse_args(["--perturbed", "all"])).perturbed is None
    True
    >>> perturbed_keys(p.parse_args(["--perturbed", "A, B,A"])).perturbed
    ('A', 'B')
    """
    from dataclasses import replace

    keys = keys_from_args(args)
    text = str(args.perturbed).strip()
    if text.lower() == "all":
        return replace(keys, perturbed=None)
    if "," in text:
        labels = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
        if not labels:
            raise ScotmInputError(f"--perturbed '{text}' names no perturbation; give e.g. A,B")
        return replace(keys, perturbed=labels if len(labels) > 1 else labels[0])
    return replace(keys, perturbed=text)


def check_holdouts(adata: ad.AnnData, holdouts: Sequence[str], keys: Keys) -> None:
    """Fail before any work if a requested fold is impossible (absent type, or one condition).

    Examples
    --------
    >>> check_holdouts(adata, ["B"], Keys())  # doctest: +SKIP
    """
    import anndata as ad

    from ..design import holdout_split

    obs_only = ad.AnnData(obs=adata.obs[[keys.condition_key, keys.cell_type_key]].copy())
    for h in holdouts:
        holdout_split(obs_only, h, keys, check=False)  # read_data checked the keys


def resolve_holdouts(
    adata: ad.AnnData, keys: Keys, text: str | None, default_first: bool
) -> list[str]:
    """``--holdout`` as a list of cell types ('all': every type with both conditions).

    Examples
    --------
    >>> resolve_holdouts(adata, Keys(), "all", default_first=False)  # doctest: +SKIP
    """
    from ..design import foldable_cell_types

    if text is None or not text.strip() or text.strip().lower() == "all":
        types = foldable_cell_types(adata, keys)
        if default_first and (text is None or not text.strip()):
            logger.info("No --holdout: holding out '%s' (--holdout all for every fold)", types[0])
            return types[:1]
        return types
    holdouts = list(dict.fromkeys(h.strip() for h in text.split(",") if h.strip()))
    check_holdouts(adata, holdouts, keys)
    return holdouts


def _report_settings(
    args: argparse.Namespace, methods: Sequence[str], holdouts: Sequence[str], keys: Keys
) -> dict:
    """What the report lists under Settings: the command, its flags, the model's settings."""
    from ..report import report_method

    settings = {
        "command": f"scotm {args.command}",
        "methods": list(methods),
        "held-out cell types": list(holdouts),
        "perturbations": keys.perturbed if keys.perturbed is not None else "all",
        "figures per fold for": report_method(methods),
        "keys": keys.as_kwargs(),
        "--n-top-genes": args.n_top_genes or "0 (all genes)",
        "output": str(Path(args.out).expanduser()),
    }
    if any(m.startswith("scotm") for m in methods):
        from ..benchmark import method_changes
        from ..model import Settings

        settings["scotm settings"] = Settings().as_dict()
        if args.set:
            settings["--set"] = list(args.set)
        for m in methods:
            if method_changes(m):
                settings[f"{m} changes"] = method_changes(m)
    return settings


def _data_summary(args: argparse.Namespace, adata: ad.AnnData, keys: Keys) -> dict:
    """What the report lists under Data: the source, its size, cells per type and condition."""
    import pandas as pd

    counts = pd.crosstab(
        adata.obs[keys.cell_type_key].astype(str),
        adata.obs[keys.condition_key].astype(str),
        margins=True,
        margins_name="total",
    )
    counts.index.name = counts.columns.name = None
    return {
        "data": args.data or "Kang et al. 2018 IFN-beta PBMCs (built in)",
        "cells": adata.n_obs,
        "genes (after preprocessing)": adata.n_vars,
        "cells per type and condition": counts,
    }


def _benchmark(args: argparse.Namespace, *, default_first: bool) -> int:
    import time
    from dataclasses import replace

    from ..benchmark import format_table, run_benchmark

    t0 = time.perf_counter()
    methods = parse_methods(args.methods)
    model_settings = parse_settings(args.set)  # checked before any data is read
    adata, keys = read_data(args, perturbed_keys(args))
    if keys.perturbed is None and len(perts := keys.perturbations(adata)) == 1:
        keys = replace(keys, perturbed=perts[0])  # 'all' of one label: today's run
    holdouts = resolve_holdouts(adata, keys, args.holdout, default_first)  # before slow work
    adata = prepare_data(adata, args)
    out = Path(args.out).expanduser()
    collector = None
    if args.report:
        from ..report import FigureCollector, report_method

        collector = FigureCollector(report_method(methods))  # keeps PNGs, not predictions
    report: list[Path] = []

    def finish(folder: Path, table) -> None:  # inside the run's folder, before it is in place
        print(format_table(table))
        skipped = table.attrs.get("skipped") or []
        if skipped:
            print(f"\nskipped {len(skipped)} (cell type, perturbation) pair(s) (run.json):")
            for s in skipped:
                print(f"  {s['holdout']} / {s['perturbation']}: {s['reason']}")
        if collector is None:
            return
        from ..report import write_report

        logger.info("Writing the report (bar charts, tables, settings) ...")
        t1 = time.perf_counter()
        path = write_report(
            folder,
            table,
            collector.folds,
            settings=_report_settings(args, methods, holdouts, keys),
            data_summary=_data_summary(args, adata, keys),
            runtime_s=time.perf_counter() - t0,
        )
        page_s = time.perf_counter() - t1
        logger.info(
            "Report written in %.1f s (per-fold figures %.1f s + page %.1f s)",
            collector.seconds + page_s,
            collector.seconds,
            page_s,
        )
        report.append(out / Path(path).relative_to(folder))

    run_benchmark(
        adata,
        methods=methods,
        holdouts=holdouts,
        out_dir=out,
        keys=keys,
        on_prediction=collector,
        overwrite=args.overwrite,
        finish=finish,
        settings=model_settings,
    )
    many = not isinstance(keys.perturbed, str)
    where = "<method>/<holdout>/<perturbation>.h5ad" if many else "<method>/"
    print(f"\nmetrics: {out / 'metrics.csv'}\npredictions: {out / 'predictions'}/{where}")
    for path in report:
        print(f"report: {path}")
    return 0


# --------------------------------------------------------------------------- subcommands


def _model_arguments(p: argparse.ArgumentParser) -> None:
    """``--perturbed`` explained for many perturbations, and ``--set`` for the scotm methods."""
    for action in p._actions:
        if action.dest == "perturbed":
            action.help = PERTURBED_HELP
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting for every scotm method, repeatable (e.g. --set seed=1)",
    )


def _benchmark_arguments(p: argparse.ArgumentParser) -> None:
    add_benchmark_arguments(p, methods=BASELINE_METHODS, holdout="all", out="scotm_out/benchmark")
    _model_arguments(p)


def cmd_benchmark(args: argparse.Namespace) -> int:
    """Leave-one-cell-type-out benchmark of the given methods; table, metrics.csv, predictions.

    Examples
    --------
    >>> main(["benchmark", "--methods", "identity"])  # doctest: +SKIP
    """
    return _benchmark(args, default_first=False)


def _run_arguments(p: argparse.ArgumentParser) -> None:
    # the --holdout default depends on --data, so cmd_run resolves it
    add_benchmark_arguments(
        p,
        methods=RUN_METHODS,
        holdout=None,
        out="scotm_out/run",
        holdout_help=f"'{KANG_DEFAULT_HOLDOUT}' for Kang; with --data, its largest cell type "
        "that has both conditions",
    )
    _model_arguments(p)


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: the model beside the baselines, on one fold by default.

    Examples
    --------
    >>> main(["run"])  # doctest: +SKIP
    """
    if args.holdout is None and args.data is None:
        args.holdout = KANG_DEFAULT_HOLDOUT
    return _benchmark(args, default_first=True)


register(
    "run",
    "the main job: scotm beside the baselines, one held-out cell type by default",
    _run_arguments,
    cmd_run,
)
register(
    "benchmark",
    "leave-one-cell-type-out benchmark (every fold by default)",
    _benchmark_arguments,
    cmd_benchmark,
)
