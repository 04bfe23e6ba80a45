# ad-hoc: MC-dropout averaged residual decoding vs the standard, same trained model
import os, sys, time, json
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np, torch
torch.set_num_threads(1)
import logging; logging.disable(logging.WARNING)
import scotm
from scotm import metrics
from scotm.benchmark import Keys, holdout_split
from scotm.model import SCOTM
import scotm.model.predict as P

folds = sys.argv[2].split(",")
seeds = [int(s) for s in sys.argv[3].split(",")]
out = open(sys.argv[1], "a")
adata = scotm.pp.prepare(scotm.datasets.kang())
orig = P.decode
K = 10
def mc_decode(network, z, batch_size=4096, cond=None):
    was = network.training
    network.train()
    acc = 0
    for i in range(K):
        torch.manual_seed(1000 + i)
        acc = acc + orig(network, z, batch_size, cond)
    network.train(was)
    return acc / K
for seed in seeds:
    for h in folds:
        keys = Keys()
        fold = holdout_split(adata, h, keys)
        degs = metrics.top_degs(fold.ctrl, fold.real)
        t = time.perf_counter()
        m = SCOTM(fold.train, **keys.as_kwargs(), seed=seed, num_threads=1)
        m.train(progress=False)
        for name in ["std", "mcdrop"]:
            P.decode = mc_decode if name == "mcdrop" else orig
            pred = m.predict(fold.ctrl)
            s = metrics.evaluate(fold.ctrl, fold.real, pred, degs)
            r = {"fold": h, "seed": seed, "v": name, **{k: float(s[k]) for k in ("r2_mean_deg","delta_r_deg","r2_var_deg","deg_overlap","edist")}}
            print(json.dumps(r), file=out, flush=True)
            print(r, flush=True)
        P.decode = orig
