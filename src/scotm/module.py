"""The torch module: an MLP autoencoder over log-normalised genes with an MMD (or KL) prior.

The user-facing class lives in :mod:`scotm.model`; this module only holds layers and losses,
as scvi-tools separates ``model/`` from ``module/``.

Why MMD: a KL term pulls every cell's code towards the origin, which shrinks the differences
between cell states that OT must later pair up. MMD only matches the *aggregate* of the
codes to N(0, I) (InfoVAE / WAE), so each cell keeps a sharp, deterministic code.

Why an inverse multiquadric kernel over several scales: an RBF kernel's gradient vanishes when
the two samples are far apart (early in training), while the IMQ kernel ``C / (C + |x-y|^2)``
has heavy tails and keeps a useful gradient; summing scales ``C = 2 d s`` for
``s`` in 0.1 ... 10 avoids committing to one bandwidth (Tolstikhin et al., 2018).
"""

from __future__ import annotations

import torch
from torch import nn

IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def imq_kernel(x: torch.Tensor, y: torch.Tensor, scales=IMQ_SCALES) -> torch.Tensor:
    """Sum over scales of the inverse multiquadric kernel ``C / (C + |x - y|^2)``."""
    d2 = torch.cdist(x, y).pow(2)
    dim = x.shape[1]
    return sum(c / (c + d2) for c in (2.0 * dim * s for s in scales))


def mmd_prior(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Unbiased MMD^2 between the batch of codes ``z`` and as many N(0, I) samples."""
    n = z.shape[0]
    if n < 2:
        return z.new_zeros(())
    prior = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    off = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
    k_zz = (imq_kernel(z, z) * off).sum() / (n * (n - 1))
    k_pp = (imq_kernel(prior, prior) * off).sum() / (n * (n - 1))
    k_zp = imq_kernel(z, prior).mean()
    return k_zz + k_pp - 2 * k_zp


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)), summed over latent dimensions, averaged over cells."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()


def mlp(sizes: list[int], dropout: float, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers += [nn.LayerNorm(b), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class VAEModule(nn.Module):
    """Encoder/decoder MLPs; ``prior='mmd'`` (deterministic codes) or ``'kl'`` (a VAE).

    Parameters
    ----------
    n_genes
        Input and output width (log-normalised HVGs).
    hidden
        Hidden layer widths of the encoder; the decoder mirrors them.
    n_latent
        Latent dimension.
    prior
        ``"mmd"`` or ``"kl"``.
    n_cond
        Width of an optional conditioning vector (a prior embedding) fed to the decoder.
    """

    def __init__(
        self,
        n_genes: int,
        hidden: tuple[int, ...] = (512, 256),
        n_latent: int = 64,
        prior: str = "mmd",
        dropout: float = 0.1,
        n_cond: int = 0,
    ) -> None:
        super().__init__()
        if prior not in ("mmd", "kl"):
            raise ValueError(f"prior must be 'mmd' or 'kl', not {prior!r}")
        self.prior = prior
        self.n_latent = n_latent
        self.n_cond = n_cond
        out = n_latent * (2 if prior == "kl" else 1)
        self.encoder = mlp([n_genes, *hidden], dropout, last_activation=True)
        self.to_latent = nn.Linear(hidden[-1], out)
        self.decoder = mlp([n_latent + n_cond, *reversed(hidden)], dropout, last_activation=True)
        self.to_genes = nn.Linear(hidden[0], n_genes)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the code (the posterior mean for KL) and, for KL, the log-variance."""
        h = self.to_latent(self.encoder(x))
        if self.prior == "kl":
            mu, logvar = h.chunk(2, dim=1)
            return mu, logvar.clamp(-10, 10)
        return h, None

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Log-normalised expression, non-negative (ReLU output, as the data are)."""
        if self.n_cond:
            z = torch.cat([z, cond], dim=1)
        return torch.relu(self.to_genes(self.decoder(z)))

    def loss(
        self,
        x: torch.Tensor,
        cond: torch.Tensor | None = None,
        beta: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """Reconstruction (MSE summed over genes) plus ``beta`` times the prior term."""
        mu, logvar = self.encode(x)
        if self.prior == "kl":
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
            reg = kl_normal(mu, logvar)
        else:
            z = mu
            reg = mmd_prior(z) * x.shape[0]  # scale so the term keeps weight as batches grow
        recon = (self.decode(z, cond) - x).pow(2).sum(1).mean()
        return {"loss": recon + beta * reg, "recon": recon, "reg": reg}
