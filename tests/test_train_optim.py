"""The optimiser of both networks: fused AdamW where torch supports it, else the default."""

from __future__ import annotations

import logging

import pytest
import torch

from scotm.train.tasks import adamw


def _fused_supported() -> bool:
    try:
        torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


@pytest.mark.skipif(not _fused_supported(), reason="this torch has no fused CPU AdamW")
def test_fused_where_supported():
    opt = adamw(torch.nn.Linear(4, 3).parameters(), 1e-3, 1e-4)
    assert opt.defaults["fused"] is True
    assert opt.defaults["lr"] == 1e-3 and opt.defaults["weight_decay"] == 1e-4


def test_falls_back_to_the_per_tensor_update(monkeypatch, caplog):
    real = torch.optim.AdamW

    class NoFused(real):
        def __init__(self, params, *args, fused=None, **kwargs):
            if fused:
                raise RuntimeError("`fused=True` requires all the params to be ...")
            super().__init__(params, *args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", NoFused)
    net = torch.nn.Linear(4, 3)
    with caplog.at_level(logging.DEBUG, logger="scotm.model"):
        opt = adamw(net.parameters(), 1e-3, 1e-4)
    assert not opt.defaults["fused"]
    assert "fused AdamW unavailable" in caplog.text
    # the generator of parameters was consumed once: the fallback still got every tensor
    assert len(opt.param_groups[0]["params"]) == 2


def test_fused_and_per_tensor_agree_closely():
    """Same algorithm: after 20 steps the parameters agree to float32 rounding, not bitwise."""
    if not _fused_supported():
        pytest.skip("this torch has no fused CPU AdamW")
    out = []
    for fused in (False, True):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
        opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-4, fused=fused)
        x, y = torch.randn(32, 20), torch.randn(32, 4)
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        out.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    moved = (out[0] - torch.cat([p.flatten() for p in _init()])).abs().max()
    assert moved > 1e-3  # the optimiser did move the weights
    assert torch.allclose(out[0], out[1], atol=1e-5, rtol=1e-5)


def _init():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    return [p.detach() for p in net.parameters()]
