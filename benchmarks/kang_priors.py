"""Do prior embeddings help on Kang? Four variants of SCOTM on the folds of EVALUATION.md.

- ``none``: no priors (the model of ``kang_model.py``);
- ``pert``: a perturbation embedding (a CSV row for the perturbed label, e.g. an ESM2 or
  text embedding of IFN-beta) trains the response network;
- ``cell``: a cell embedding (``obsm[--cell-embedding-key]``, e.g. ``X_genept`` from
  ``scotm.priors``) enters the encoder;
- ``both``.

With one perturbation, the default prediction of a seen perturbation is OT transfer, which
a perturbation embedding does not change; so variants with it are also scored with
``source="response"`` (``pert+response``, ``both+response``), the response network's
shift, which is what the embedding shapes.

    python benchmarks/kang_priors.py --data kang_with_genept.h5ad \\
        --cell-embedding-key X_genept --perturbation-embeddings ifnb.csv \\
        --out benchmarks/results/kang_priors

``--standin-pca N`` instead writes a STAND-IN cell embedding (``obsm['X_standin_pca']``: a
PCA fit on the control cells only, so held-out perturbed cells never shape it) and uses it;
it tests the plumbing, it is not GenePT. ``--subsample F`` keeps a fraction of the cells of
every (cell type, condition), for a quick run.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import scotm
from scotm import metrics
from scotm._embeddings import read_perturbation_csv
from scotm._io import write_text
from scotm.benchmark import Keys, cell_types, holdout_split, summary_text
from scotm.cli import read_h5ad
from scotm.model import SCOTM

sys.path.insert(0, str(Path(__file__).parent))
from _settings import settings_or_exit  # noqa: E402


def standin_pca(adata, n: int, keys: Keys) -> np.ndarray:
    """A stand-in cell embedding: PCA of the log-normalised genes, fit on control cells only."""
    from sklearn.decomposition import PCA

    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    is_ctrl = (adata.obs[keys.condition_key].astype(str) == keys.control).to_numpy()
    return PCA(n_components=n, random_state=0).fit(X[is_ctrl]).transform(X).astype(np.float32)


def subsample(adata, fraction: float, keys: Keys, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = adata.obs.groupby([keys.cell_type_key, keys.condition_key], observed=True).indices
    keep = np.concatenate(
        [rng.choice(i, max(2, int(len(i) * fraction)), replace=False) for i in groups.values()]
    )
    return adata[np.sort(keep)].copy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="Kang .h5ad with the cell embedding in obsm (default: Kang)")
    p.add_argument("--cell-embedding-key", default="X_genept")
    p.add_argument("--cell-embedding-source", default=None)
    p.add_argument("--perturbation-embeddings", metavar="CSV", help="name,v1,v2,... rows")
    p.add_argument("--perturbation-embedding-source", default=None)
    p.add_argument("--standin-pca", type=int, metavar="N", help="use a STAND-IN PCA embedding")
    p.add_argument("--variants", default="none,pert,cell,both")
    p.add_argument("--holdout", nargs="*", help="cell types (default: all 8)")
    p.add_argument("--subsample", type=float, help="keep this fraction of every group")
    p.add_argument("--out", default="benchmarks/results/kang_priors")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    keys = Keys()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    settings = settings_or_exit(p, args.set)
    t_start = time.perf_counter()
    raw = read_h5ad(args.data) if args.data else scotm.datasets.kang()
    if args.subsample:
        raw = subsample(raw, args.subsample, keys, args.seed)
    adata = scotm.pp.prepare(raw)
    cell_key, cell_source = args.cell_embedding_key, args.cell_embedding_source
    if args.standin_pca:
        cell_key = "X_standin_pca"
        cell_source = f"STAND-IN: PCA({args.standin_pca}) of control cells, not GenePT"
        adata.obsm[cell_key] = standin_pca(adata, args.standin_pca, keys)
    elif cell_key == "X_genept" and cell_key not in adata.obsm:
        # GenePT over the prepared genes: MiniLM embeddings of their gene-set descriptions,
        # averaged with each cell's log-normalised expression as weights (scotm.priors)
        adata = scotm.priors.genept(adata)
        cell_source = cell_source or adata.uns["X_genept"].get("model", "GenePT (scotm.priors)")
    pert_emb = None
    if any(v in ("pert", "both") for v in variants):
        if not args.perturbation_embeddings:
            p.error("variants pert/both need --perturbation-embeddings CSV")
        pert_emb = read_perturbation_csv(args.perturbation_embeddings)
    out = Path(args.out)
    rows = []
    for holdout in args.holdout or cell_types(adata, keys):
        fold = holdout_split(adata, holdout, keys)
        degs = metrics.top_degs(fold.ctrl, fold.real)
        for variant in variants:
            prior = {}
            if variant in ("cell", "both"):
                prior.update(cell_embedding_key=cell_key, cell_embedding_source=cell_source)
            if variant in ("pert", "both"):
                prior.update(
                    perturbation_embeddings=pert_emb,
                    perturbation_embedding_source=args.perturbation_embedding_source,
                )
            t0 = time.perf_counter()
            model = SCOTM(
                fold.train,
                **keys.as_kwargs(),
                **prior,
                seed=args.seed,
                num_threads=args.threads,
                **settings,
            ).train(progress=False)
            fit_s = time.perf_counter() - t0
            sources = ["auto"] + (["response"] if "perturbation_embeddings" in prior else [])
            for source in sources:
                t1 = time.perf_counter()
                pred = model.predict(fold.ctrl, source=source)
                name = variant if source == "auto" else f"{variant}+response"
                m = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
                rows.append(
                    {
                        "holdout": holdout,
                        "method": name,
                        **m,
                        "fit_s": fit_s,
                        "predict_s": time.perf_counter() - t1,
                    }
                )
                logging.info(
                    "%s %s: %s", holdout, name, ", ".join(f"{k}={v:.3f}" for k, v in m.items())
                )
        write_text(pd.DataFrame(rows).to_csv(index=False), out / "metrics.csv")
    table = pd.DataFrame(rows)
    header = [
        f"wall {time.perf_counter() - t_start:.0f} s; cell embedding: obsm['{cell_key}']"
        + (f" ({cell_source})" if cell_source else ""),
        f"perturbation embeddings: {args.perturbation_embeddings or '-'}"
        + (
            f" ({args.perturbation_embedding_source})" if args.perturbation_embedding_source else ""
        ),
        f"subsample: {args.subsample or 'none'}; settings: {settings or 'defaults'}",
    ]
    text = summary_text(table, header)
    write_text(text + "\n", out / "summary.txt")
    print(text)


if __name__ == "__main__":
    main()
