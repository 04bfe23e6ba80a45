"""Profile (cProfile) one SCOTM fit + predict on a ~1k-cell Kang fold, after a warm-up fit.

The fold of ``benchmarks/train_speed.py``'s "small": a random 1,100-cell Kang subsample (seed
0), 2,000 HVGs, CD14+ Monocytes held out. Prints wall and CPU seconds, then the 25 functions
with the most own time, in process CPU seconds (the profiler's clock is ``time.process_time``,
so time the process spent waiting for a core on a shared machine is not counted).

Run (repository root, PYTHONPATH=src)::

    nice -n 10 python benchmarks/small_fold_profile.py
"""

import cProfile  # noqa: I001
import pstats
import time

import numpy as np
import scotm
from scotm.design import holdout_split
from scotm.model import SCOTM

adata = scotm.datasets.kang()
keep = np.sort(np.random.default_rng(0).choice(adata.n_obs, 1100, replace=False))
adata = scotm.pp.prepare(adata[keep].copy(), n_top_genes=2000)
fold = holdout_split(adata, "CD14+ Monocytes")
SCOTM(fold.train, max_epochs=1).train(progress=False)  # warm-up (imports)
m = SCOTM(fold.train)
pr = cProfile.Profile(time.process_time)
c = time.process_time()
t = time.perf_counter()
pr.enable()
m.train(progress=False)
m.predict(fold.ctrl)
pr.disable()
print(
    "wall",
    time.perf_counter() - t,
    "cpu",
    time.process_time() - c,
    "epochs",
    m.train_info["epochs"],
)
st = pstats.Stats(pr)
st.sort_stats("tottime").print_stats(25)
