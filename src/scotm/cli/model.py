"""``scotm train`` and ``scotm predict``: a saved model on top of the library."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._errors import ScotmInputError
from .common import (
    add_data_arguments,
    add_threads_argument,
    keys_from_args,
    parse_settings,
    prepare_data,
    read_data,
    read_h5ad,
    register,
)


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
    add_threads_argument(g)
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any model setting, repeatable (e.g. --set prior=kl --set n_latent=32)",
    )
    g = p.add_argument_group("checkpoints and hardware")
    g.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="where each epoch's checkpoint goes (default: OUT.checkpoints); removed once the "
        "model is saved",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from its checkpoints (same data and settings)",
    )
    g.add_argument(
        "--accelerator", choices=("cpu", "gpu", "auto"), default="cpu", help="default: cpu"
    )
    g.add_argument("--devices", default="1", metavar="N", help="devices per node (or 'auto')")
    g.add_argument(
        "--strategy", default="auto", metavar="NAME", help="Lightning strategy, e.g. ddp"
    )
    g.add_argument("--num-nodes", type=int, default=1, metavar="M", help="number of nodes")
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
    """``--perturbed`` for training: one label, ``a,b,c``, or ``all`` (every non-control label).

    Examples
    --------
    >>> parse_perturbed("drugA, drugB")
    ['drugA', 'drugB']
    >>> parse_perturbed("all") is None
    True
    """
    if text.strip().lower() == "all":
        return None
    labels = [t.strip() for t in text.split(",") if t.strip()]
    if not labels:
        raise ScotmInputError("--perturbed is empty; give a label, a comma-separated list or all")
    return labels[0] if len(labels) == 1 else labels


def cmd_train(args: argparse.Namespace) -> int:
    """Train SCOTM on a data set (optionally leaving a cell type's perturbed cells out), save it.

    Examples
    --------
    >>> main(["train", "--data", "data.h5ad", "--out", "model/"])  # doctest: +SKIP
    """
    settings = parse_settings(args.set)  # every setting checked before any data is read
    from ..train import Checkpoints, is_rank_zero

    if not is_rank_zero():  # a DDP process of rank > 0: rank zero logs, prints and writes
        import logging

        logging.getLogger("scotm").setLevel(logging.WARNING)
    if args.max_epochs is not None and args.max_epochs < 1:
        raise ScotmInputError(f"--max-epochs must be 1 or more, got {args.max_epochs}")
    out = Path(args.out).expanduser()
    if out.exists() and not args.overwrite:
        raise ScotmInputError(f"{out} exists; pass --overwrite to replace it or choose --out")
    devices = _devices(args.devices)
    if args.num_nodes < 1:
        raise ScotmInputError(f"--num-nodes must be 1 or more, got {args.num_nodes}")
    ckpt_dir = Path(args.checkpoint_dir or f"{out}.checkpoints").expanduser()
    from dataclasses import replace

    from .._embeddings import read_perturbation_csv
    from ..design import holdout_split
    from ..model import SCOTM
    from .bench import check_holdouts

    pert_emb = None
    if args.perturbation_embeddings:
        pert_emb = read_perturbation_csv(args.perturbation_embeddings)
    keys = replace(keys_from_args(args), perturbed=parse_perturbed(args.perturbed))
    adata, keys = read_data(args, keys)
    if args.holdout:
        check_holdouts(adata, [args.holdout], keys)  # before the slow preprocessing
    adata = prepare_data(adata, args)
    # keys and labels were checked once, by read_data (the model checks its own input)
    train = holdout_split(adata, args.holdout, keys, check=False).train if args.holdout else adata
    model = SCOTM(
        train,
        **keys.as_kwargs(),
        cell_embedding_key=args.cell_embedding_key,
        cell_embedding_source=args.cell_embedding_source,
        perturbation_embeddings=pert_emb,
        perturbation_embedding_source=args.perturbation_embedding_source,
        **settings,
    )
    if args.overwrite and not args.resume and is_rank_zero():
        Checkpoints(ckpt_dir).remove()  # --overwrite starts over
    try:
        model.train(
            max_epochs=args.max_epochs,
            progress=not args.quiet,
            accelerator=args.accelerator,
            devices=devices,
            strategy=args.strategy,
            num_nodes=args.num_nodes,
            checkpoint_dir=ckpt_dir,
            resume=args.resume,
        )
        model.save(out, overwrite=args.overwrite)
    except Exception:
        if is_rank_zero() and Checkpoints(ckpt_dir).has_any():
            print(f"checkpoints kept in {ckpt_dir}: rerun with --resume to continue", flush=True)
        raise
    if not is_rank_zero():  # the other processes of a distributed run write nothing
        return 0
    Checkpoints(ckpt_dir).remove()
    infos = [model.train_info] + [sib.train_info for sib in model.siblings]
    epochs = "+".join(str(i["epochs"]) for i in infos)
    networks = f"{len(infos)} networks, " if len(infos) > 1 else ""
    print(
        f"trained on {train.n_obs} cells x {train.n_vars} genes, "
        f"{len(model.perturbations)} perturbation(s), {networks}in {epochs} epochs "
        f"({sum(i['train_seconds'] for i in infos):.1f} s); model: {out}"
    )
    return 0


def _devices(text: str) -> int | str:
    """``--devices``: a count of 1 or more, or ``auto``.

    Examples
    --------
    >>> _devices("2"), _devices("auto")
    (2, 'auto')
    """
    if text.strip().lower() == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ScotmInputError(f"--devices must be a count of 1 or more or auto, got {text!r}")
    return n


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
    """Predict the perturbed state of control cells with a saved model.

    Examples
    --------
    >>> main(["predict", "--model", "model/", "--data", "data.h5ad"])  # doctest: +SKIP
    """
    from .. import pp
    from .._embeddings import perturbation_table, read_perturbation_csv
    from .._io import write_h5ad
    from ..design import check_genes, check_keys, labels
    from ..model import SCOTM

    model = SCOTM.load(Path(args.model).expanduser())
    for name in ("condition_key", "control", "perturbed", "cell_type_key"):
        if getattr(args, name) is None:
            setattr(args, name, model.keys[name])
    keys = keys_from_args(args)
    if args.data:
        adata = read_h5ad(args.data)
    else:
        from .. import datasets

        adata = datasets.kang()
    # only control cells are needed: the perturbed label need not exist in --data
    check_keys(adata, keys.condition_key, keys.control, None, keys.cell_type_key)
    mask = labels(adata, keys.condition_key) == keys.control
    if args.cell_type:
        types = labels(adata, keys.cell_type_key)
        if args.cell_type not in set(types):
            raise ScotmInputError(
                f"cell type '{args.cell_type}' not found in obs['{keys.cell_type_key}']; "
                f"values are: {', '.join(sorted(set(types))[:20])}; set it with --cell-type"
            )
        mask &= types == args.cell_type
    if not mask.any():
        raise ScotmInputError(f"no '{keys.control}' cells to predict from; check --control")
    # normalise over all genes, as in training, then take the model's genes in its order
    ctrl = pp.prepare(adata[mask].copy(), n_top_genes=None)
    if set(model.var_names) <= set(ctrl.var_names):
        ctrl = ctrl[:, list(model.var_names)].copy()
    check_genes(ctrl, model.var_names, "--data")
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
