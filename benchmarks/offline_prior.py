"""kang_seeds.py on a machine that cannot build the default cell prior (no gene sets, no text model).

The default SCOTM builds its GenePT gene table from the MSigDB gene sets of a cached wheel and a
text model (:func:`scotm.model.cell_prior.resolve`). A lent machine that reaches no package
index has neither, so the table is computed once where they are, carried as files, and this
module hands it to every process in place of ``resolve``: the model, its training and its
predictions are otherwise today's default, unchanged.

    # where the gene sets are: the prepared Kang data and its gene table
    python benchmarks/offline_prior.py --write DIR
    # on the other machine: kang_seeds.py's own arguments after the table
    SCOTM_GENEPT_TABLE=DIR python benchmarks/offline_prior.py --data DIR/kang_prepared.h5ad \\
        --methods scotm_post mean_shift pca_ot --seeds 0 1 2 --jobs 16 --out OUT

Each job runs one thread, as in kang_seeds.py; the thread variables are set here, before
numpy or torch is imported, so that a many-core machine is not oversubscribed (kang_seeds.py
sets them in its workers after its imports, which two cores do not notice and sixteen do).
"""

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
TABLE = "genept_G.npy", "genept_genes.npy"


def write(out: str) -> None:
    """Write ``kang_prepared.h5ad`` and the GenePT gene table of its genes into ``out``."""
    import scotm
    from scotm._io import write_h5ad
    from scotm.model import cell_prior

    os.makedirs(out, exist_ok=True)
    adata = scotm.pp.prepare(scotm.datasets.kang())
    write_h5ad(adata, os.path.join(out, "kang_prepared.h5ad"))
    G = cell_prior.resolve(adata.var_names, "auto")
    np.save(os.path.join(out, TABLE[0]), G)
    np.save(os.path.join(out, TABLE[1]), np.asarray(adata.var_names, dtype=str))
    print(f"{adata.n_obs} cells, gene table {G.shape} -> {out}")


def _use_table(folder: str) -> None:
    """Make ``cell_prior.resolve`` return the carried table (for these genes only)."""
    import scotm.model.cell_prior as cp

    G = np.load(os.path.join(folder, TABLE[0]))
    genes = [str(g) for g in np.load(os.path.join(folder, TABLE[1]))]

    def resolve(var_names, setting):
        if setting == "none":
            return None
        if [str(g) for g in var_names] != genes:
            raise RuntimeError(f"the genes differ from the GenePT table in {folder}")
        return G.copy()

    cp.resolve = resolve


# spawn workers run this top level again (as __mp_main__), so they get the table too
if os.environ.get("SCOTM_GENEPT_TABLE"):
    _use_table(os.environ["SCOTM_GENEPT_TABLE"])

if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        write(sys.argv[2])
    elif not os.environ.get("SCOTM_GENEPT_TABLE"):
        sys.exit("set SCOTM_GENEPT_TABLE=DIR (a folder written by --write DIR) or use --write DIR")
    else:
        import kang_seeds

        kang_seeds.main()
