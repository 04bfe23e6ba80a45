# ad-hoc screen: the default with settings changed, folds x seeds, one thread
import os, sys, json, time
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np, torch
torch.set_num_threads(1)
import logging; logging.disable(logging.WARNING)
import scotm
from scotm import metrics
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM
tag, settings = sys.argv[2], json.loads(sys.argv[3])
folds = sys.argv[4].split(",") if len(sys.argv) > 4 else ["DC","CD14+ Monocytes","CD16+ Monocytes","NK cells","B","CD4+ T cells","CD8+ T cells","T"]
seeds = [int(s) for s in sys.argv[5].split(",")] if len(sys.argv) > 5 else [0]
out = open(sys.argv[1], "a")
adata = scotm.pp.prepare(scotm.datasets.kang())
for seed in seeds:
    for h in folds:
        keys = Keys()
        fold = holdout_split(adata, h, keys)
        degs = metrics.top_degs(fold.ctrl, fold.real)
        t = time.perf_counter()
        m = SCOTM(fold.train, **keys.as_kwargs(), seed=seed, num_threads=1, **settings)
        m.train(progress=False)
        pred = m.predict(fold.ctrl)
        dt = time.perf_counter() - t
        s = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
        r = {"tag": tag, "fold": h, "seed": seed, "s": dt, "load": os.getloadavg()[0], **{k: float(s[k]) for k in ("r2_mean_deg","delta_r_deg","r2_var_deg","deg_overlap","edist")}}
        print(json.dumps(r), file=out, flush=True)
        print(tag, h, seed, round(dt,1), {k: round(v, 3) for k, v in r.items() if isinstance(v, float) and k not in ("s","load")}, flush=True)
