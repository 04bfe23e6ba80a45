"""Prototype: an autoencoder trained so that a shift borrowed from other cell types,
decoded in a type's own context, gives that type's perturbed mean (leave-one-type-out
inside each batch). Ad-hoc screen, not project code."""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, "/work/main/benchmarks")
import scotm.model.conditional as C  # noqa: E402
from scotm.module import VAEModule, mmd_prior, register_network  # noqa: E402

TL_WEIGHT = float(os.environ.get("TL_WEIGHT", "1.0"))
TL_MODE = os.environ.get("TL_MODE", "residual")


@register_network("vae_tl")
class TransferAE(VAEModule):
    tl_weight = TL_WEIGHT

    def batch_loss(self, batch, beta=1.0):
        x, g = batch["x"], batch["cond"]
        z, _ = self.encode(x, batch.get("cell_emb"))
        reg = mmd_prior(z) * x.shape[0]
        recon = (self.decode(z) - x).pow(2).sum(1).mean()
        tl = self.transfer_loss(x, z, g)
        return {"loss": recon + beta * reg + self.tl_weight * tl, "recon": recon, "reg": reg, "tl": tl}

    def transfer_loss(self, x, z, g):
        typ, stim = g // 2, g % 2
        shifts, ctrl_rows, targets = {}, {}, {}
        for t in torch.unique(typ).tolist():
            c = (typ == t) & (stim == 0)
            p = (typ == t) & (stim == 1)
            if c.sum() >= 2 and p.sum() >= 2:
                shifts[t] = z[p].mean(0) - z[c].mean(0)
                ctrl_rows[t] = c
                targets[t] = x[p].mean(0)
        if len(shifts) < 2:
            return z.new_zeros(())
        keys = list(shifts)
        S = torch.stack([shifts[t] for t in keys])
        losses = []
        for i, t in enumerate(keys):
            other = torch.cat([S[:i], S[i + 1 :]]).mean(0)
            zc, xc = z[ctrl_rows[t]], x[ctrl_rows[t]]
            moved = self.decode(zc + other)
            if TL_MODE == "residual":
                pred = (xc + moved - self.decode(zc)).mean(0)
            else:
                pred = moved.mean(0)
            losses.append((pred - targets[t]).pow(2).sum())
        return torch.stack(losses).mean()


_orig = C.condition_index


def condition_index(model, adata):
    if isinstance(model.module, TransferAE):
        d = model.design
        cond = d.conditions(adata)
        types = d.cell_types(adata)
        names = {t: i for i, t in enumerate(sorted(set(types)))}
        return np.array([names[t] * 2 + (c != d.control) for t, c in zip(types, cond)], dtype=np.int64)
    return _orig(model, adata)


C.condition_index = condition_index


def proto_init(*args):
    import kang_seeds

    kang_seeds._init(*args)
