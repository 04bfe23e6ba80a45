"""Many perturbations on REAL CRISPR screens (PerturBench's development file).

Three tasks, one model configuration (scotm's defaults) for all of them:

``cellline``   McFaline-Figueroa 2023 (CRISPRi, 9 kinase targets, glioblastoma lines A172, T98G,
               U87MG). Each line's perturbed cells are held out in turn; its 9 knock-downs are
               predicted from its controls by one SCOTM for all 9 targets, by 9 separate
               single-target SCOTMs, and by mean_shift and pca_ot per target.
``unseen``     Norman 2019 (CRISPRa, K562) singles: perturbations are held out (6 folds of 3)
               and predicted from the target gene's text embedding alone, against the mean of
               the training perturbations, a ridge regression from the same embedding to the
               mean response, and the nearest training perturbation by embedding.
``pairs``      Norman pairs: the 5 pairs whose genes were both seen alone, predicted from the
               model trained on the singles, against the additive baseline (sum of the real
               single shifts); and the 10 pairs with genes never seen alone, from their genes'
               embeddings, against the mean of the training pairs.

Beside the pinned metrics (scotm.metrics.evaluate) every row has the Systema-style
correlation (change relative to the mean of all perturbations, ``systema_r``), the rank of
the prediction's own real centroid among the perturbations' centroids (``centroid_rank``,
0 = nearest), and whether the real response is distinguishable from control
(``responsive``: energy-distance permutation test, 999 permutations, Benjamini-Hochberg 5%).

    python benchmarks/perturbench.py cellline --out benchmarks/results/perturbench
    python benchmarks/perturbench.py unseen --embedding genesets --out ...
    python benchmarks/perturbench.py pairs --out ...

Data: ``--data`` (default ../shared/data/perturbench_devel.h5ad beside the checkout).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV

import scotm
from scotm import effects, metrics
from scotm._io import write_text
from scotm.baselines import MeanShift, PcaOT
from scotm.model import SCOTM

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "perturbench_devel.h5ad"
CTRL = "control"


def dense(a: ad.AnnData) -> np.ndarray:
    return np.asarray(a.X.toarray() if hasattr(a.X, "toarray") else a.X, dtype=np.float64)


def shifted(ctrl: ad.AnnData, delta: np.ndarray) -> ad.AnnData:
    """Control cells plus a gene-space shift, clipped at 0 (the baselines' prediction)."""
    X = np.clip(dense(ctrl) + delta, 0, None).astype(np.float32)
    return ad.AnnData(X=X, obs=ctrl.obs.copy(), var=ctrl.var.copy())


def bh_reject(p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Benjamini-Hochberg: which hypotheses are rejected at FDR ``alpha``."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    passed = p[order] <= alpha * np.arange(1, len(p) + 1) / len(p)
    k = np.flatnonzero(passed).max() + 1 if passed.any() else 0
    out = np.zeros(len(p), dtype=bool)
    out[order[:k]] = True
    return out


def score(
    ctrl: ad.AnnData, real: dict[str, ad.AnnData], preds: dict[str, dict[str, ad.AnnData]]
) -> pd.DataFrame:
    """Pinned metrics + systema_r + centroid rank + responsiveness, one row per (method, pert)."""
    real_means = pd.DataFrame({p: dense(a).mean(0) for p, a in real.items()}).T
    ref = effects.perturbed_centroid(real_means)
    c = dense(ctrl)
    # the response test and the pinned edist use seed 0 whatever the model seed: they describe
    # the data, not the model
    tests = {p: effects.response_test(c, dense(a), n_perm=999, seed=0) for p, a in real.items()}
    responsive = dict(zip(tests, bh_reject(np.array([t[1] for t in tests.values()])), strict=True))
    rows = []
    for method, by_pert in preds.items():
        pred_means = pd.DataFrame({p: dense(a).mean(0) for p, a in by_pert.items()}).T
        ranks = effects.centroid_ranks(pred_means, real_means)
        for p, pred in by_pert.items():
            m = metrics.evaluate(ctrl, real[p], pred)
            rows.append(
                {
                    "method": method,
                    "perturbation": p,
                    **m,
                    "systema_r": effects.systema_r(pred_means.loc[p], real_means.loc[p], ref),
                    "centroid_rank": int(ranks[p]),
                    "n_competitors": len(real_means) - 1,
                    "response_edist": tests[p][0],
                    "response_p": tests[p][1],
                    "responsive": bool(responsive[p]),
                }
            )
    return pd.DataFrame(rows)


#: model settings for every SCOTM of the run (``--set KEY=VALUE``; default: scotm's defaults)
SETTINGS: dict[str, str] = {}


def train(adata: ad.AnnData, perturbed, seed: int, **kw) -> SCOTM:
    kw = {**SETTINGS, **kw}
    return SCOTM(adata, perturbed=perturbed, seed=seed, **kw).train(progress=False)


# ----------------------------------------------------------------- task 1: unseen cell line
def task_cellline(adata: ad.AnnData, seed: int) -> pd.DataFrame:
    adata = adata[adata.obs["dataset"] == "mcfaline23"].copy()
    cond = adata.obs["condition"].astype(str).to_numpy()
    line = adata.obs["cell_type"].astype(str).to_numpy()
    targets = sorted(set(cond) - {CTRL})
    tables = []
    for held in sorted(set(line)):
        t0 = time.perf_counter()
        train_set = adata[~((line == held) & (cond != CTRL))].copy()
        ctrl = adata[(line == held) & (cond == CTRL)].copy()
        real = {t: adata[(line == held) & (cond == t)].copy() for t in targets}
        preds: dict[str, dict[str, ad.AnnData]] = {
            k: {} for k in ("scotm_all", "scotm_separate", "mean_shift", "pca_ot")
        }
        model = train(train_set, None, seed)
        tc = train_set.obs["condition"].astype(str).to_numpy()
        for t in targets:
            preds["scotm_all"][t] = model.predict(ctrl, perturbation=t)
            one = train_set[(tc == CTRL) | (tc == t)].copy()
            preds["scotm_separate"][t] = train(one, t, seed).predict(ctrl)
            for name, cls in (("mean_shift", MeanShift), ("pca_ot", PcaOT)):
                preds[name][t] = cls(perturbed=t).fit(one).predict(ctrl)
        table = score(ctrl, real, preds)
        table.insert(0, "fold", held)
        tables.append(table)
        logging.info("cell line %s done in %.0f s", held, time.perf_counter() - t0)
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------- embeddings of genetic perturbations
def gene_vectors(genes: list[str], kind: str) -> pd.DataFrame:
    """MiniLM text embeddings of target genes: their gene-set description, or the symbol."""
    if kind == "genesets":
        return scotm.priors.gene_embeddings(genes)
    texts = [f"CRISPR activation of the gene {g}" for g in genes]
    return pd.DataFrame(scotm.priors.TextEmbedder().embed(texts), index=genes)


def combo_vectors(perts: list[str], genes: pd.DataFrame) -> pd.DataFrame:
    """A perturbation's vector: its gene's, or the sum of its genes' for a pair ("A+B")."""
    return pd.DataFrame({p: genes.loc[p.split("+")].sum(0) for p in perts}).T


def embedding_baselines(
    ctrl_mean: np.ndarray,
    train_means: pd.DataFrame,
    vecs: pd.DataFrame,
    targets: list[str],
) -> dict[str, dict[str, np.ndarray]]:
    """Gene-space shifts of the simple unseen-perturbation baselines, per target."""
    deltas = train_means.to_numpy() - ctrl_mean
    E = vecs.loc[train_means.index].to_numpy()
    ridge = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(E, deltas)
    unit = E / np.linalg.norm(E, axis=1, keepdims=True)
    out: dict[str, dict[str, np.ndarray]] = {"mean_train": {}, "ridge": {}, "nearest": {}}
    for t in targets:
        e = vecs.loc[t].to_numpy()
        out["mean_train"][t] = deltas.mean(0)
        out["ridge"][t] = ridge.predict(e[None])[0]
        out["nearest"][t] = deltas[int(np.argmax(unit @ (e / np.linalg.norm(e))))]
    return out


def predict_all(
    model: SCOTM,
    ctrl: ad.AnnData,
    train_set: ad.AnnData,
    vecs: pd.DataFrame,
    targets: list[str],
) -> dict[str, dict[str, ad.AnnData]]:
    """The model's predictions (response network, from the embedding) and the baselines'."""
    tc = train_set.obs["condition"].astype(str).to_numpy()
    seen = sorted(set(tc) - {CTRL})
    train_means = pd.DataFrame({p: dense(train_set[tc == p]).mean(0) for p in seen}).T
    base = embedding_baselines(dense(ctrl).mean(0), train_means, vecs, targets)
    preds = {
        # "scotm" is the default (source="auto"): a pair of seen singles -> additive in the
        # latent space, anything else unseen -> the ridge route
        ("scotm" if source == "auto" else f"scotm_{source}"): {
            t: model.predict(ctrl, t, perturbation_embedding=vecs.loc[t].to_numpy(), source=source)
            for t in targets
        }
        for source in ("auto", "ridge", "response")
    }
    for name, deltas in base.items():
        preds[name] = {t: shifted(ctrl, d) for t, d in deltas.items()}
    return preds


def norman(adata: ad.AnnData) -> tuple[ad.AnnData, np.ndarray, list[str], list[str]]:
    adata = adata[adata.obs["dataset"] == "norman19"].copy()
    cond = adata.obs["condition"].astype(str).to_numpy()
    singles = sorted(p for p in set(cond) - {CTRL} if "+" not in p)
    pairs = sorted(p for p in set(cond) if "+" in p)
    return adata, cond, singles, pairs


# ------------------------------------------------------------- task 2: unseen perturbation
def task_unseen(adata: ad.AnnData, seed: int, kind: str, n_folds: int = 6) -> pd.DataFrame:
    adata, cond, singles, _ = norman(adata)
    vecs = combo_vectors(singles, gene_vectors(singles, kind))
    order = np.random.default_rng(0).permutation(singles)  # the same folds for every seed
    folds = [sorted(order[i::n_folds].tolist()) for i in range(n_folds)]
    ctrl = adata[cond == CTRL].copy()
    real = {p: adata[cond == p].copy() for p in singles}
    preds: dict[str, dict[str, ad.AnnData]] = {}
    for i, held in enumerate(folds):
        t0 = time.perf_counter()
        train_perts = [p for p in singles if p not in held]
        train_set = adata[np.isin(cond, [CTRL, *train_perts])].copy()
        model = train(train_set, train_perts, seed, perturbation_embeddings=vecs.loc[train_perts])
        for method, by in predict_all(model, ctrl, train_set, vecs, held).items():
            preds.setdefault(method, {}).update(by)
        logging.info("fold %d (%s) done in %.0f s", i, ", ".join(held), time.perf_counter() - t0)
    # scored together: every single's real centroid competes with every prediction
    table = score(ctrl, real, preds)
    table.insert(0, "embedding", kind)
    return table


# --------------------------------------------------------------------- task 3: pairs
def task_pairs(adata: ad.AnnData, seed: int, kind: str) -> pd.DataFrame:
    adata, cond, singles, pairs = norman(adata)
    genes = sorted({g for p in singles + pairs for g in p.split("+")})
    vecs = combo_vectors(singles + pairs, gene_vectors(genes, kind))
    known = [p for p in pairs if all(g in singles for g in p.split("+"))]
    novel = [p for p in pairs if p not in known]
    ctrl = adata[cond == CTRL].copy()
    real = {p: adata[cond == p].copy() for p in pairs}
    c_mean = dense(ctrl).mean(0)
    single_delta = {s: dense(adata[cond == s]).mean(0) - c_mean for s in singles}
    preds: dict[str, dict[str, ad.AnnData]] = {}

    # known pairs: trained on the singles only
    train_set = adata[np.isin(cond, [CTRL, *singles])].copy()
    model = train(train_set, singles, seed, perturbation_embeddings=vecs.loc[singles])
    for method, by in predict_all(model, ctrl, train_set, vecs, known).items():
        preds.setdefault(method, {}).update(by)
    preds["additive"] = {
        p: shifted(ctrl, sum(single_delta[g] for g in p.split("+"))) for p in known
    }
    # pairs with unseen genes: trained on the singles and the known pairs; the mean of the
    # training pairs is the baseline
    train_set = adata[np.isin(cond, [CTRL, *singles, *known])].copy()
    seen = singles + known
    model = train(train_set, seen, seed, perturbation_embeddings=vecs.loc[seen])
    for method, by in predict_all(model, ctrl, train_set, vecs, novel).items():
        preds.setdefault(method, {}).update(by)
    pair_delta = np.mean([dense(adata[cond == p]).mean(0) - c_mean for p in known], axis=0)
    preds["mean_train_pairs"] = {p: shifted(ctrl, pair_delta) for p in novel}
    table = score(ctrl, real, preds)
    table.insert(0, "pair_kind", np.where(table["perturbation"].isin(known), "known", "novel"))
    table.insert(0, "embedding", kind)
    return table


SUMMARY_COLS = ["r2_mean_deg", "delta_r_deg", "edist", "systema_r", "centroid_rank"]


def summarise(table: pd.DataFrame, by: list[str]) -> str:
    lines = []
    for label, sub in (("all", table), ("responsive only", table[table["responsive"]])):
        n = sub.drop_duplicates([c for c in ("fold", "perturbation") if c in sub]).shape[0]
        lines.append(f"Mean over {label} ({n} perturbation rows per method):")
        g = sub.groupby(by)[SUMMARY_COLS].mean()
        g["centroid_acc"] = sub.assign(hit=sub["centroid_rank"] == 0).groupby(by)["hit"].mean()
        lines.append(g.to_string(float_format=lambda v: f"{v:.3f}"))
        lines.append("")
    return "\n".join(lines)


def across_seeds(out: Path, name: str, by: list[str]) -> str:
    """Mean and spread (SD over seeds) of each method's per-seed mean, over all rows, the
    BH-responsive rows and the nominally responsive rows (p < 0.05)."""
    files = sorted(out.glob(f"{name}_seed*.csv"))
    if not files:
        raise SystemExit(f"no {name}_seed*.csv in {out}; run the task first")
    tables = [pd.read_csv(f).assign(seed=i) for i, f in enumerate(files)]
    t = pd.concat(tables, ignore_index=True)
    t["centroid_acc"] = (t["centroid_rank"] == 0).astype(float)
    cols = [*SUMMARY_COLS, "centroid_acc"]
    lines = [f"{name}: {len(files)} seed(s) ({', '.join(f.stem for f in files)})", ""]
    for label, sub in (
        ("all rows", t),
        ("BH-responsive rows", t[t["responsive"]]),
        ("nominally responsive rows (p < 0.05)", t[t["response_p"] < 0.05]),
    ):
        per_seed = sub.groupby([*by, "seed"])[cols].mean()
        g = per_seed.groupby(level=list(range(len(by))))
        mean, sd = g.mean(), g.std(ddof=1).fillna(0.0)
        table = mean.map(lambda v: f"{v:.3f}") + " ± " + sd.map(lambda v: f"{v:.3f}")
        n = sub[sub["seed"] == 0].groupby(by).size().max() if len(sub) else 0
        lines += [
            f"Mean ± SD over seeds, {label} ({n} rows per method and seed):",
            table.to_string(),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=["cellline", "unseen", "pairs", "summary"])
    p.add_argument("--name", help="with summary: cellline, unseen_genesets, pairs_genesets, ...")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--out", default="benchmarks/results/perturbench")
    p.add_argument("--embedding", choices=["genesets", "symbol"], default="genesets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="model settings")
    p.add_argument("--tag", default="", help="suffix of the output names (e.g. the settings)")
    args = p.parse_args()
    SETTINGS.update(kv.split("=", 1) for kv in args.set)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    if args.task == "summary":
        name = args.name or "cellline"
        text = across_seeds(out, name, ["pair_kind", "method"] if "pairs" in name else ["method"])
        write_text(text, out / f"{name}_summary.txt")
        print(text)
        return
    t0 = time.perf_counter()
    adata = scotm.pp.prepare(ad.read_h5ad(args.data), n_top_genes=None)
    if args.task == "cellline":
        table, by, name = task_cellline(adata, args.seed), ["method"], "cellline"
    elif args.task == "unseen":
        table = task_unseen(adata, args.seed, args.embedding)
        by, name = ["method"], f"unseen_{args.embedding}"
    else:
        table = task_pairs(adata, args.seed, args.embedding)
        by, name = ["pair_kind", "method"], f"pairs_{args.embedding}"
    name += args.tag
    write_text(table.to_csv(index=False), out / f"{name}_seed{args.seed}.csv")
    text = (
        f"perturbench {args.task} (real data: {Path(args.data).name}), seed {args.seed}, "
        f"wall {time.perf_counter() - t0:.0f} s\n\n" + summarise(table, by)
    )
    write_text(text, out / f"{name}_seed{args.seed}.txt")
    print(text)


if __name__ == "__main__":
    main()
