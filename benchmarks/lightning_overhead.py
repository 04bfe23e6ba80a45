"""CPU cost of Lightning's parts in a small fit: each variant against scotm's trainer as is.

The ~1k-cell fold of ``benchmarks/train_speed.py`` ("small": a random 1,100-cell Kang
subsample, seed 0, 2,000 HVGs, CD14+ Monocytes held out; 826 training cells, batch 51, 16
steps an epoch), trained for a fixed 12 epochs (192 steps; early stopping cannot act), then the
held-out control cells predicted. Every variant runs in this one process after a warm-up fit,
the variants interleaved within each round; the figure is the process CPU time
(``time.process_time``, all threads) per optimiser step, min and median over the rounds.

Variants (each changes one thing):

- ``as_is``: the code as it is;
- ``log_every_step``: the training terms logged with ``self.log(on_epoch=True)`` every step
  (scotm before it summed them itself);
- ``lightning_transfer``: Lightning's batch-to-device walk on the CPU (not skipped);
- ``progress_bar``: Lightning's progress bar on (``SCOTM.train(progress=True)``), to stderr;
- ``no_validation``: no validation at all (``limit_val_batches=0``, no early stopping
  callback; what validation costs);
- ``per_tensor_adamw``: torch's default (not fused) AdamW;
- ``torch_loop``: the same 192 steps (same batches, fused AdamW, no validation, no
  prediction) in a plain torch loop, without Lightning: the floor.

Run (repository root, PYTHONPATH=src)::

    nice -n 10 python benchmarks/lightning_overhead.py --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time
from pathlib import Path

EPOCHS = 12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/lightning_overhead.json"))
    a = ap.parse_args()
    import numpy as np  # noqa: I001
    import scotm  # first: OMP_WAIT_POLICY=PASSIVE before torch loads
    import torch
    from scotm.design import holdout_split
    from scotm.model import SCOTM
    from scotm.train import runner, tasks

    adata = scotm.datasets.kang()
    keep = np.sort(np.random.default_rng(0).choice(adata.n_obs, 1100, replace=False))
    adata = scotm.pp.prepare(adata[keep].copy(), n_top_genes=2000)
    fold = holdout_split(adata, "CD14+ Monocytes")
    task_cls, runner_cls = tasks.NetworkTask, runner.Runner

    def log_every_step(self, batch, batch_idx):
        return self._log(batch, self.log_train, on_step=False, on_epoch=True)["loss"]

    def per_tensor(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def no_val(trainer_fn):
        def trainer(self, *args, **kwargs):
            from lightning.pytorch.callbacks import EarlyStopping

            t = trainer_fn(self, *args, **kwargs)
            t.limit_val_batches = 0  # and nothing to stop early on
            t.callbacks = [c for c in t.callbacks if not isinstance(c, EarlyStopping)]
            return t

        return trainer

    def fit(progress: bool = False) -> None:
        model = SCOTM(fold.train, max_epochs=EPOCHS, patience=1000)
        with contextlib.redirect_stderr(io.StringIO()):
            model.train(progress=progress)
        model.predict(fold.ctrl)

    def torch_loop() -> None:
        from scotm._threads import thread_scope

        torch.manual_seed(0)
        model = SCOTM(fold.train)  # the same network, built the same way
        net = model.module
        n = fold.train.n_obs
        idx = np.random.default_rng(0).permutation(n)[: n - round(n * 0.1)]
        ds = tasks.RowDataset(fold.train.X, np.sort(idx))
        loader = torch.utils.data.DataLoader(
            ds, batch_size=51, shuffle=True, drop_last=True, collate_fn=ds.collate
        )
        opt = tasks.adamw(net.parameters(), 1e-3, 1e-4)
        n_params = sum(p.numel() for p in net.parameters())
        with thread_scope(n_params):
            net.train()
            for _ in range(EPOCHS):
                for batch in loader:
                    loss = net.batch_loss(batch)["loss"]
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

    variants = {
        "as_is": {},
        "log_every_step": {(task_cls, "training_step"): log_every_step},
        "lightning_transfer": {
            (
                task_cls,
                "transfer_batch_to_device",
            ): tasks.pl.LightningModule.transfer_batch_to_device
        },
        "progress_bar": {},
        "no_validation": {(runner_cls, "trainer"): no_val(runner_cls.trainer)},
        "per_tensor_adamw": {(task_cls, "configure_optimizers"): per_tensor},
        "torch_loop": {},
    }
    fit()  # warm-up: imports, first-call costs
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    loads = []
    for _ in range(a.rounds):
        for name, patches in variants.items():
            saved = {k: k[0].__dict__[k[1]] for k in patches}
            for (cls, attr), fn in patches.items():
                setattr(cls, attr, fn)
            try:
                c = time.process_time()
                torch_loop() if name == "torch_loop" else fit(progress=name == "progress_bar")
                cpu[name].append(time.process_time() - c)
            finally:
                for (cls, attr), fn in saved.items():
                    setattr(cls, attr, fn)
            loads.append(os.getloadavg()[0])
            print(name, round(cpu[name][-1], 3), flush=True)
    steps = EPOCHS * 16
    table = {
        name: {
            "ms_per_step_min": round(1e3 * min(v) / steps, 2),
            "ms_per_step_median": round(1e3 * float(np.median(v)) / steps, 2),
            "cpu_s": [round(x, 3) for x in v],
        }
        for name, v in cpu.items()
    }
    out = {"steps": steps, "load1_range": [min(loads), max(loads)], "variants": table}
    print(json.dumps(out, indent=1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
