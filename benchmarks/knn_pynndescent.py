"""pynndescent (approximate cosine k-NN) against the exact blockwise search, on synthetic codes.

Gaussian-mixture codes (9 centres, 64 dimensions): 135,000 references, 15,000 queries, k=30,
the sizes of the 300k-cell transfer in benchmarks/scale.py. Prints the index build and query
times (numba compilation included) and the recall@30 against exact search on 500 queries.

Run: nice -n 10 python benchmarks/knn_pynndescent.py
"""

import time

import numpy as np
import pynndescent

rng = np.random.default_rng(0)
centers = rng.normal(size=(9, 64)) * 3
ref = (centers[rng.integers(0, 9, 135000)] + rng.normal(size=(135000, 64))).astype(np.float32)
q = (centers[rng.integers(0, 9, 15000)] + rng.normal(size=(15000, 64))).astype(np.float32)
t = time.perf_counter()
idx = pynndescent.NNDescent(ref, metric="cosine", n_neighbors=30, random_state=0, n_jobs=2)
t1 = time.perf_counter()
idx.prepare()
found, _ = idx.query(q, k=30)
t2 = time.perf_counter()
print("build", t1 - t, "query", t2 - t1)
# recall vs exact on 500 queries
qq = q[:500] / np.linalg.norm(q[:500], axis=1, keepdims=True)
rn = ref / np.linalg.norm(ref, axis=1, keepdims=True)
ex = np.argpartition(-(qq @ rn.T), 29, axis=1)[:, :30]
print("recall", np.mean([len(set(a) & set(b)) / 30 for a, b in zip(ex, found[:500], strict=True)]))
