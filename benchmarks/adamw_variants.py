"""AdamW per-tensor vs ``foreach`` vs ``fused`` on scotm's default network: bit-identity, speed.

60 steps of ``VAEModule(2000, hidden=(256, 128), n_latent=64)`` on one random batch of 51 (the
~1k-cell fold's batch), 2 threads, the same seed for each variant; prints the median time of
``opt.step()`` and whether the parameters after 60 steps equal the per-tensor variant's
(torch's CPU default, which ``scotm/train/tasks.py`` used before it switched to ``fused``
where torch supports it: ``scotm.train.tasks.adamw``).

Run (repository root, PYTHONPATH=src)::

    nice -n 10 python benchmarks/adamw_variants.py
"""

from __future__ import annotations

import time


def main() -> None:
    import scotm  # noqa: F401, I001  (first: OMP_WAIT_POLICY=PASSIVE before torch loads)
    import torch
    from scotm.module import VAEModule

    torch.set_num_threads(2)
    params = {}
    for name, mode in [("per-tensor", {"foreach": False}), ("foreach", {"foreach": True})] + [
        ("fused", {"fused": True})
    ]:
        torch.manual_seed(0)
        m = VAEModule(2000, hidden=(256, 128), n_latent=64)
        opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=1e-4, **mode)
        x = torch.randn(51, 2000)
        times = []
        for _ in range(60):
            loss = m.loss(x)["loss"]
            opt.zero_grad()
            loss.backward()
            t = time.perf_counter()
            opt.step()
            times.append(time.perf_counter() - t)
        params[name] = torch.cat([p.detach().flatten() for p in m.parameters()])
        print(f"{name}: median step {sorted(times)[30] * 1e3:.1f} ms")
    base = params["per-tensor"]
    for name in ("foreach", "fused"):
        diff = (params[name] - base).abs().max().item()
        print(f"{name}: bit-identical {torch.equal(params[name], base)}, max |diff| {diff:.3g}")


if __name__ == "__main__":
    main()
