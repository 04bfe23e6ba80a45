"""The torch module: an MLP autoencoder over log-normalised genes with an MMD (or KL) prior.

The user-facing class lives in :mod:`scotm.model`; this module only holds layers and losses,
as scvi-tools separates ``model/`` from ``module/``.

Networks are registered by name (:func:`register_network`): ``SCOTM`` builds the one its
``network`` setting names, so a new decoder is a new class here, not an edit of ``SCOTM``.
An autoencoder provides ``from_config(n_genes, config, n_cell_emb)``,
``encode(x, cell_emb) -> (code, logvar | None)``, ``decode(z)`` and ``batch_loss(batch,
beta)`` over a batch dict ``{"x", "cell_emb"}``; the response network's batches are
``{"z", "pert_emb", "target", "cell_emb"}``.

Why MMD: a KL term pulls every cell's code towards the origin, which shrinks the differences
between cell states that OT must later pair up. MMD only matches the *aggregate* of the
codes to N(0, I) (InfoVAE / WAE), so each cell keeps a sharp, deterministic code.

Why an inverse multiquadric kernel over several scales: an RBF kernel's gradient vanishes when
the two samples are far apart (early in training), while the IMQ kernel ``C / (C + |x-y|^2)``
has heavy tails and keeps a useful gradient; summing scales ``C = 2 d s`` for
``s`` in 0.1 ... 10 avoids committing to one bandwidth (Tolstikhin et al., 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

#: Network classes by name; :func:`register_network` adds one.
NETWORKS: dict[str, type[nn.Module]] = {}


def register_network(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make ``cls`` buildable by the name ``name`` (the ``network`` setting).

    Examples
    --------
    >>> @register_network("my_vae")
    ... class MyVAE(VAEModule):
    ...     pass
    >>> get_network("my_vae").network_name
    'my_vae'
    >>> del NETWORKS["my_vae"]
    """

    def add(cls: type[nn.Module]) -> type[nn.Module]:
        cls.network_name = name
        NETWORKS[name] = cls
        return cls

    return add


def get_network(name: str, kind: str = "autoencoder") -> type[nn.Module]:
    """The network class registered as ``name``, of ``kind`` (``"autoencoder"``/``"response"``).

    Examples
    --------
    >>> get_network("vae").__name__
    'VAEModule'
    """
    valid = [n for n, cls in NETWORKS.items() if getattr(cls, "kind", "autoencoder") == kind]
    if name not in valid:
        from ._errors import ScotmInputError

        what = "network" if kind == "autoencoder" else f"{kind} network"
        raise ScotmInputError(
            f"setting {what} must be one of {', '.join(map(repr, valid))}, got {name!r}"
        )
    return NETWORKS[name]


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


OUTPUTS = {"relu": torch.relu, "softplus": nn.functional.softplus}  #: output_activation


def mlp(sizes: list[int], dropout: float, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers += [nn.LayerNorm(b), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@register_network("vae")
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
    n_cell_emb
        Width of an optional cell-state embedding (e.g. GenePT, scGPT) fed to the encoder.
        It passes through a learned projection to ``cell_emb_proj`` features, concatenated
        with the genes, so the latent code (which decides which training cells a new cell
        resembles) uses it. ``0`` (default) builds exactly the network without it.
    cell_emb_proj
        Width of that projection.

    Examples
    --------
    >>> m = VAEModule(50, hidden=(32, 16), n_latent=4, n_cell_emb=8)
    >>> z, _ = m.encode(torch.zeros(3, 50), torch.zeros(3, 8))
    >>> tuple(z.shape)
    (3, 4)
    """

    kind = "autoencoder"

    def __init__(
        self,
        n_genes: int,
        hidden: tuple[int, ...] = (512, 256),
        n_latent: int = 64,
        prior: str = "mmd",
        dropout: float = 0.1,
        n_cond: int = 0,
        n_cell_emb: int = 0,
        cell_emb_proj: int = 16,
    ) -> None:
        super().__init__()
        if prior not in ("mmd", "kl"):
            raise ValueError(f"prior must be 'mmd' or 'kl', not {prior!r}")
        self.prior = prior
        self.n_latent = n_latent
        self.n_cond = n_cond
        self.n_cell_emb = n_cell_emb
        self.output = "relu"  # a key of OUTPUTS: build_network sets it from the settings
        out = n_latent * (2 if prior == "kl" else 1)
        n_in = n_genes + (cell_emb_proj if n_cell_emb else 0)
        self.encoder = mlp([n_in, *hidden], dropout, last_activation=True)
        self.to_latent = nn.Linear(hidden[-1], out)
        self.decoder = mlp([n_latent + n_cond, *reversed(hidden)], dropout, last_activation=True)
        self.to_genes = nn.Linear(hidden[0], n_genes)
        # created last, and only when used: a model without a cell embedding draws exactly
        # the same initial weights as before this option existed (pinned by a test)
        if n_cell_emb:
            self.cell_proj = nn.Linear(n_cell_emb, cell_emb_proj)

    @classmethod
    def from_config(cls, n_genes: int, config: Any, n_cell_emb: int = 0) -> VAEModule:
        """The network a module config (:class:`scotm.model.ModuleConfig`) describes."""
        return cls(
            n_genes,
            hidden=config.hidden,
            n_latent=config.n_latent,
            prior=config.prior,
            dropout=config.dropout,
            n_cell_emb=n_cell_emb,
            cell_emb_proj=config.cell_embedding_proj,
        )

    def batch_loss(self, batch: dict, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """:meth:`loss` of a batch dict ``{"x", "cell_emb"}``."""
        return self.loss(batch["x"], beta=beta, cell_emb=batch.get("cell_emb"))

    def encode(
        self, x: torch.Tensor, cell_emb: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the code (the posterior mean for KL) and, for KL, the log-variance.

        ``cell_emb`` is required when the module was built with ``n_cell_emb > 0``.
        """
        if self.n_cell_emb:
            if cell_emb is None:
                raise ValueError("this module was built with a cell embedding; pass cell_emb")
            x = torch.cat([x, self.cell_proj(cell_emb)], dim=1)
        h = self.to_latent(self.encoder(x))
        if self.prior == "kl":
            mu, logvar = h.chunk(2, dim=1)
            return mu, logvar.clamp(-10, 10)
        return h, None

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Log-normalised expression, non-negative (ReLU or softplus output, as the data are)."""
        if self.n_cond:
            z = torch.cat([z, cond], dim=1)
        return OUTPUTS[self.output](self.to_genes(self.decoder(z)))

    def loss(
        self,
        x: torch.Tensor,
        cond: torch.Tensor | None = None,
        beta: float = 1.0,
        cell_emb: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Reconstruction (MSE summed over genes) plus ``beta`` times the prior term."""
        mu, logvar = self.encode(x, cell_emb)
        if self.prior == "kl":
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
            reg = kl_normal(mu, logvar)
        else:
            z = mu
            reg = mmd_prior(z) * x.shape[0]  # scale so the term keeps weight as batches grow
        recon = (self.decode(z, cond) - x).pow(2).sum(1).mean()
        return {"loss": recon + beta * reg, "recon": recon, "reg": reg}


@register_network("response")
class ResponseNet(nn.Module):
    """The response network ``r(z, cell_emb?, e_pert) -> latent shift``.

    It is trained after the autoencoder to regress the OT shifts (each training control
    cell's barycentric shift under each perturbation observed for its cell type), so a
    perturbation never seen in training gets a shift from its embedding alone.

    The perturbation embedding and the (optional) cell embedding are each projected by a
    learned layer before meeting the code: a 2,048-bit fingerprint would otherwise swamp a
    64-d code in the first layer.

    Parameters
    ----------
    n_latent
        Width of the codes and of the predicted shift.
    n_pert_emb
        Width of the perturbation embedding.
    n_cell_emb
        Width of the cell embedding; ``0`` for none.
    hidden
        Hidden layer widths.
    proj
        Width of each embedding's projection.

    Examples
    --------
    >>> r = ResponseNet(4, n_pert_emb=10, hidden=(16,))
    >>> tuple(r(torch.zeros(5, 4), torch.zeros(5, 10)).shape)
    (5, 4)
    """

    kind = "response"

    def __init__(
        self,
        n_latent: int,
        n_pert_emb: int,
        n_cell_emb: int = 0,
        hidden: tuple[int, ...] = (128, 128),
        proj: int = 32,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.n_latent = n_latent
        self.n_pert_emb = n_pert_emb
        self.n_cell_emb = n_cell_emb
        self.pert_proj = nn.Sequential(nn.Linear(n_pert_emb, proj), nn.ReLU())
        self.cell_proj = nn.Linear(n_cell_emb, proj) if n_cell_emb else None
        n_in = n_latent + proj + (proj if n_cell_emb else 0)
        self.body = mlp([n_in, *hidden], dropout, last_activation=True)
        self.out = nn.Linear(hidden[-1], n_latent)

    @classmethod
    def from_config(
        cls, n_latent: int, n_pert_emb: int, config: Any, n_cell_emb: int = 0
    ) -> ResponseNet:
        """The response network a module config describes."""
        return cls(
            n_latent,
            n_pert_emb,
            n_cell_emb=n_cell_emb,
            hidden=config.response_hidden,
            dropout=config.dropout,
        )

    def batch_loss(self, batch: dict) -> dict[str, torch.Tensor]:
        """:meth:`loss` of a batch dict ``{"z", "pert_emb", "target", "cell_emb"}``."""
        loss = self.loss(batch["z"], batch["pert_emb"], batch["target"], batch.get("cell_emb"))
        return {"loss": loss}

    def forward(
        self, z: torch.Tensor, pert_emb: torch.Tensor, cell_emb: torch.Tensor | None = None
    ) -> torch.Tensor:
        parts = [z, self.pert_proj(pert_emb)]
        if self.cell_proj is not None:
            if cell_emb is None:
                raise ValueError("this response network was built with a cell embedding")
            parts.append(self.cell_proj(cell_emb))
        return self.out(self.body(torch.cat(parts, dim=1)))

    def loss(
        self,
        z: torch.Tensor,
        pert_emb: torch.Tensor,
        target: torch.Tensor,
        cell_emb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean squared error to the OT shifts, summed over latent dimensions."""
        return (self(z, pert_emb, cell_emb) - target).pow(2).sum(1).mean()


def group_mmd(h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Mean over perturbed conditions of the unbiased MMD^2 between them and control (0).

    Conditions with fewer than two rows in the batch are skipped (zero if none is left).
    """
    ctrl = h[cond == 0]
    terms = []
    for c in torch.unique(cond):
        other = h[cond == c]
        if int(c) == 0 or len(other) < 2 or len(ctrl) < 2:
            continue
        within = [
            (k.sum() - k.diagonal().sum()) / (len(k) * (len(k) - 1))
            for k in (imq_kernel(ctrl, ctrl), imq_kernel(other, other))
        ]
        terms.append(within[0] + within[1] - 2 * imq_kernel(ctrl, other).mean())
    return torch.stack(terms).mean() if terms else h.new_zeros(())


@register_network("cvae")
class CondAEModule(VAEModule):
    """A condition-aware autoencoder (the trVAE idea) over the same encoder and prior.

    The decoder also receives the condition (one-hot: 0 = control, ``j`` = the ``j``-th
    training perturbation), on its first layer or on every layer (``cond_layers``). An MMD
    term between control and each perturbed condition, on the codes (``cond_mmd_on=
    "latent"``) or on the decoder's first layer (``"decoder"``, as trVAE), weighted by
    ``cond_mmd``, keeps what the condition does out of the codes, so that the decoder, not
    the code, carries the response: ``D(z, perturbed) - D(z, control)`` is then the response
    of a cell with code ``z``, also of a cell type never seen perturbed.

    Examples
    --------
    >>> m = CondAEModule(20, hidden=(16, 8), n_latent=4, n_conditions=3)
    >>> x = m.decode(torch.zeros(2, 4), torch.eye(3)[[0, 1]])
    >>> tuple(x.shape)
    (2, 20)
    """

    kind = "autoencoder"

    def __init__(
        self,
        n_genes: int,
        hidden: tuple[int, ...] = (512, 256),
        n_latent: int = 64,
        prior: str = "mmd",
        dropout: float = 0.1,
        n_cell_emb: int = 0,
        cell_emb_proj: int = 16,
        n_conditions: int = 2,
        cond_mmd: float = 1.0,
        cond_mmd_on: str = "decoder",
        cond_layers: str = "first",
    ) -> None:
        super().__init__(n_genes, hidden, n_latent, prior, dropout, 0, n_cell_emb, cell_emb_proj)
        if cond_mmd_on not in ("latent", "decoder") or cond_layers not in ("first", "all"):
            raise ValueError("cond_mmd_on must be latent/decoder, cond_layers first/all")
        self.n_conditions, self.cond_mmd = n_conditions, cond_mmd
        self.cond_mmd_on, self.cond_layers = cond_mmd_on, cond_layers
        sizes = [n_latent, *reversed(hidden)]
        blocks = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            extra = n_conditions if i == 0 or cond_layers == "all" else 0
            blocks.append(mlp([a + extra, b], dropout, last_activation=True))
        del self.decoder  # replaced by the conditioned blocks
        self.blocks = nn.ModuleList(blocks)

    @classmethod
    def from_config(
        cls, n_genes: int, config: Any, n_cell_emb: int = 0, n_conditions: int = 2
    ) -> CondAEModule:
        """The network a module config describes, for ``n_conditions`` (control included)."""
        return cls(
            n_genes,
            hidden=config.hidden,
            n_latent=config.n_latent,
            prior=config.prior,
            dropout=config.dropout,
            n_cell_emb=n_cell_emb,
            cell_emb_proj=config.cell_embedding_proj,
            n_conditions=n_conditions,
            cond_mmd=config.cond_mmd,
            cond_mmd_on=config.cond_mmd_on,
            cond_layers=config.cond_layers,
        )

    def _decode(self, z: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        if cond is None:  # the control condition
            cond = z.new_zeros(len(z), self.n_conditions)
            cond[:, 0] = 1.0
        h, first = z, None
        for i, block in enumerate(self.blocks):
            if i == 0 or self.cond_layers == "all":
                h = torch.cat([h, cond], dim=1)
            h = block(h)
            first = h if first is None else first
        return OUTPUTS[self.output](self.to_genes(h)), first

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Expression of codes ``z`` under conditions ``cond`` (one-hot rows; default control)."""
        return self._decode(z, cond)[0]

    def batch_loss(self, batch: dict, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """Reconstruction + ``beta`` x prior + ``cond_mmd`` x MMD between conditions."""
        x, c = batch["x"], batch["cond"]
        mu, logvar = self.encode(x, batch.get("cell_emb"))
        if self.prior == "kl":
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
            reg = kl_normal(mu, logvar)
        else:
            z, reg = mu, mmd_prior(mu) * x.shape[0]
        onehot = nn.functional.one_hot(c, self.n_conditions).to(x.dtype)
        out, first = self._decode(z, onehot)
        recon = (out - x).pow(2).sum(1).mean()
        cmmd = group_mmd(z if self.cond_mmd_on == "latent" else first, c) * x.shape[0]
        loss = recon + beta * reg + self.cond_mmd * cmmd
        return {"loss": loss, "recon": recon, "reg": reg, "cond_mmd": cmmd}
