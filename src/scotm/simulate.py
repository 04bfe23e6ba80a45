"""A SIMULATED multi-drug single-cell data set whose drug effects follow real chemistry.

Nothing here is measured data. The 187 drugs (and their SMILES and target pathways) are the
real compounds of the sci-Plex screen (Srivatsan et al. 2020); the cells and their responses
are drawn from a generative model in which a drug's effect is a fixed function of its
chemistry, so that a model given *another* view of the chemistry (Morgan fingerprints) can
in principle predict a drug it never saw, and a benchmark can measure whether it does.

How a drug acts (fixed by ``seed``):

1. Chemistry features that the model is NOT given: 12 RDKit physico-chemical descriptors
   (molecular weight, logP, TPSA, H-bond donors/acceptors, rotatable bonds, rings, aromatic
   rings, fraction sp3, heavy atoms, heteroatoms, formal charge), standardised, and the 167
   MACCS structural keys, centred.
2. A fixed random linear map sends them to ``n_programs`` drug-program activations (tanh),
   and to a potency in (0, 1) (a sigmoid, so many drugs act weakly, as in sci-Plex).
3. Each program and each target pathway (the ``pathway`` column) loads on its own sparse
   set of genes; drugs of one pathway share its program.
4. The response is cell-type dependent: each cell type has its own baseline expression, an
   overall sensitivity and a sensitivity per program (some programs are silent in some
   types); within a type, a continuous cell state scales each cell's response.
5. Optional doses scale the effect by ``dose / (dose + EC50)``, EC50 set by the chemistry.
6. Counts are negative binomial (gamma-Poisson) around the cell's rates, with log-normal
   library sizes.

>>> adata = sciplex_sim(n_drugs=10, n_cells_per_drug=5, n_ctrl_per_type=20)  # doctest: +SKIP
>>> adata.obs["condition"].value_counts()["control"]  # doctest: +SKIP
60
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._errors import ScotmInputError

logger = logging.getLogger(__name__)

DRUGS_FILE = "sciplex_drugs_smiles.csv"
CELL_TYPES = ("A549", "K562", "MCF7")  # the sci-Plex 3 cell lines, as labels only
DESCRIPTORS = (
    "MolWt",
    "MolLogP",
    "TPSA",
    "NumHDonors",
    "NumHAcceptors",
    "NumRotatableBonds",
    "RingCount",
    "NumAromaticRings",
    "FractionCSP3",
    "HeavyAtomCount",
    "NumHeteroatoms",
)
NO_PATHWAY = ("NA", "Others", "Vehicle")


def sciplex_drugs() -> pd.DataFrame:
    """The real sci-Plex drugs shipped with scotm: index ``name``, columns ``smiles``,
    ``pathway``. The vehicle (DMSO, named ``control`` in the file) is left out."""
    text = resources.files("scotm").joinpath("data", DRUGS_FILE).read_text()
    rows = [line.split(",", 2) for line in text.splitlines() if line.strip()]
    df = pd.DataFrame(rows, columns=["name", "smiles", "pathway"])
    df = df[df["name"] != "control"].drop_duplicates("name")
    df["pathway"] = df["pathway"].str.strip()
    return df.set_index("name")


def _rdkit():
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem import Descriptors, MACCSkeys
    except ImportError as exc:  # optional dependency
        raise ScotmInputError(
            "the simulated sci-Plex data need RDKit: pip install 'scotm[priors]' (or rdkit)"
        ) from exc
    RDLogger.DisableLog("rdApp.*")
    return Chem, Descriptors, MACCSkeys


def chemistry_features(smiles: Sequence[str]) -> np.ndarray:
    """The simulator's hidden chemistry view: standardised descriptors + centred MACCS keys.

    Deliberately not the Morgan fingerprint a model is given, so that predicting a new drug
    needs generalisation across two views of the same molecules.
    """
    Chem, Descriptors, MACCSkeys = _rdkit()
    desc, keys = [], []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise ScotmInputError(f"RDKit cannot parse SMILES {s!r}")
        d = [float(getattr(Descriptors, name)(mol)) for name in DESCRIPTORS]
        d.append(float(Chem.GetFormalCharge(mol)))
        desc.append(d)
        keys.append(np.array(list(MACCSkeys.GenMACCSKeys(mol)), dtype=np.float64))
    D = np.asarray(desc)
    D = np.clip((D - D.mean(0)) / np.maximum(D.std(0), 1e-9), -3, 3)
    K = np.vstack(keys)
    K = K - K.mean(0)
    return np.hstack([D, K])


def _sparse_loadings(rng: np.random.Generator, n: int, n_genes: int, size: int, sd: float):
    L = np.zeros((n, n_genes))
    for i in range(n):
        genes = rng.choice(n_genes, size, replace=False)
        L[i, genes] = rng.normal(0, sd, size)
    return L


def sciplex_sim(
    n_drugs: int | None = None,
    *,
    drugs: Sequence[str] | None = None,
    cell_types: Sequence[str] = CELL_TYPES,
    n_ctrl_per_type: int = 400,
    n_cells_per_drug: int = 20,
    n_genes: int = 1000,
    n_programs: int = 12,
    doses: Sequence[float] | None = None,
    effect_scale: float = 1.0,
    seed: int = 0,
) -> ad.AnnData:
    """SIMULATED single-cell responses of real sci-Plex drugs, with chemistry-driven effects.

    See the module docstring for the generative model. The data are simulated: use them to
    test whether a model can predict drugs from their structure, never as biology.

    Parameters
    ----------
    n_drugs
        Use the first ``n_drugs`` drugs (in a fixed seeded order); default all 187.
    drugs
        Or name the drugs to use.
    cell_types
        Cell-type labels; each gets its own baseline and sensitivity.
    n_ctrl_per_type, n_cells_per_drug
        Control cells per type; cells per (drug, type) (per dose, with ``doses``).
    n_genes, n_programs
        Genes; chemistry-driven gene programs.
    doses
        Optional doses (e.g. ``(10, 100, 1000, 10000)``, nM); adds ``obs['dose']``.
    effect_scale
        Multiplies every log-fold change.
    seed
        Fixes the drug effects, the cells and the order of drugs.

    Returns
    -------
    AnnData of raw counts (CSR, float32) with ``obs['condition']`` (``"control"`` or the drug
    name), ``obs['cell_type']``, ``obs['pathway']`` (``"control"`` for control cells),
    ``obs['dose']`` with doses, ``uns['sciplex_sim']`` (the settings; ``simulated: True``)
    and ``uns['sciplex_smiles']`` (drug -> SMILES).

    Examples
    --------
    >>> adata = sciplex_sim(n_drugs=20, n_cells_per_drug=10)  # doctest: +SKIP
    >>> sorted(adata.obs)  # doctest: +SKIP
    ['cell_type', 'condition', 'pathway']
    """
    table = sciplex_drugs()
    rng = np.random.default_rng(seed)
    if drugs is not None:
        unknown = [d for d in drugs if d not in table.index]
        if unknown:
            raise ScotmInputError(f"not sci-Plex drugs: {', '.join(unknown[:5])}")
        table = table.loc[list(drugs)]
    # the effects of every drug are fixed by the seed alone, whichever subset is drawn
    feats_all = chemistry_features(sciplex_drugs()["smiles"].tolist())
    index_all = {n: i for i, n in enumerate(sciplex_drugs().index)}
    n_feat = feats_all.shape[1]
    W = rng.normal(0, 1 / np.sqrt(n_feat), (n_feat, n_programs)) * 2.0
    w_pot = rng.normal(0, 1 / np.sqrt(n_feat), n_feat) * 2.0
    w_ec50 = rng.normal(0, 1 / np.sqrt(n_feat), n_feat)
    prog_L = _sparse_loadings(rng, n_programs, n_genes, max(10, n_genes // 25), 0.6)
    pathways = sorted(set(sciplex_drugs()["pathway"]) - set(NO_PATHWAY))
    path_L = dict(
        zip(
            pathways, _sparse_loadings(rng, len(pathways), n_genes, n_genes // 40, 0.8), strict=True
        )
    )
    base = rng.normal(0, 1.0, n_genes)
    type_base = {
        t: base + rng.normal(0, 0.6, n_genes) * (rng.random(n_genes) < 0.25) for t in cell_types
    }
    type_sens = {t: rng.lognormal(0, 0.3) for t in cell_types}
    prog_sens = {
        t: rng.lognormal(0, 0.4, n_programs) * (rng.random(n_programs) > 0.15) for t in cell_types
    }
    path_sens = {t: rng.lognormal(0, 0.3) for t in cell_types}
    state_L = rng.normal(0, 0.3, n_genes) * (rng.random(n_genes) < 0.2)  # a continuous state
    order = rng.permutation(len(table))
    if drugs is None and n_drugs is not None:
        table = table.iloc[np.sort(order[:n_drugs])]

    F = feats_all[[index_all[n] for n in table.index]]
    act = np.tanh(F @ W)
    potency = 1 / (1 + np.exp(-(F @ w_pot - 0.5)))
    ec50 = 10 ** (2.5 + 0.5 * np.tanh(F @ w_ec50))  # nM, 100 .. 1000

    def lfc(j: int, t: str, dose: float | None) -> np.ndarray:
        pw = table["pathway"].iloc[j]
        effect = (act[j] * prog_sens[t]) @ prog_L
        if pw in path_L:
            effect = effect + path_sens[t] * path_L[pw]
        scale = effect_scale * potency[j] * type_sens[t]
        if dose is not None:
            scale *= dose / (dose + ec50[j])
        return scale * effect

    blocks, obs = [], []

    def draw(n: int, t: str, shift: np.ndarray, cond: str, pathway: str, dose) -> None:
        state = rng.normal(0, 1, (n, 1))
        # each cell's response is scaled by its state: shifts differ within a type
        log_rate = type_base[t] + state * state_L + shift * (1 + 0.3 * np.tanh(state))
        prop = np.exp(log_rate)
        prop /= prop.sum(1, keepdims=True)
        lib = rng.lognormal(np.log(3000), 0.3, (n, 1))
        mu = prop * lib
        theta = 10.0  # negative binomial as a gamma-Poisson mixture
        counts = rng.poisson(rng.gamma(theta, mu / theta))
        blocks.append(sp.csr_matrix(counts.astype(np.float32)))
        obs.extend([(cond, t, pathway, dose)] * n)

    for t in cell_types:
        draw(n_ctrl_per_type, t, np.zeros(n_genes), "control", "control", 0.0)
        for j, name in enumerate(table.index):
            for dose in doses if doses is not None else (None,):
                draw(n_cells_per_drug, t, lfc(j, t, dose), name, table["pathway"].iloc[j], dose)
    columns = ["condition", "cell_type", "pathway", "dose"]
    frame = pd.DataFrame(obs, columns=columns)
    if doses is None:
        frame = frame.drop(columns="dose")
    frame.index = [f"sim{i}" for i in range(len(frame))]
    for col in ("condition", "cell_type", "pathway"):
        frame[col] = frame[col].astype("category")
    adata = ad.AnnData(X=sp.vstack(blocks).tocsr(), obs=frame)
    adata.var_names = [f"gene{i}" for i in range(n_genes)]
    adata.uns["sciplex_sim"] = {
        "simulated": True,
        "note": "SIMULATED cells; real sci-Plex drug structures drive the simulated effects",
        "seed": seed,
        "n_programs": n_programs,
        "effect_scale": effect_scale,
        "doses": list(doses) if doses is not None else [],
    }
    adata.uns["sciplex_smiles"] = dict(zip(table.index, table["smiles"], strict=True))
    return adata
