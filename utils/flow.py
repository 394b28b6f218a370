"""A conditional normalising flow for super-resolution in miniature (SRFlow, Lugmayr et al., ECCV 2020).

Taught in chapters/srflow.md. A flow is a chain of invertible layers f = f_K o ... o f_1 that maps a
high-resolution image y to a latent z, given features u of the low-resolution input x. By the
change-of-variables formula (the likelihood SRFlow maximises; eq-srflow-nll in the chapter),

    log p(y | x) = log p_z(f(y; u)) + sum_k log |det d f_k / d h_{k-1}|,

so the network is trained by the negative log-likelihood alone, and samples come from running the
chain backwards on z ~ N(0, tau^2 I). Every layer here returns its output and its log-determinant
(per sample) going forward, and has an exact ``reverse``:

* ``squeeze`` / ``unsqueeze``: 2x2 space-to-depth (log-det 0);
* ``ActNorm``: per-channel scale and shift, initialised from the first batch (Glow);
* ``InvConv1x1``: a learned invertible 1x1 convolution, log-det ``H W log|det W|`` (Glow);
* ``AffineInjector``: scale and shift of every channel predicted from u alone (SRFlow's affine injector layer);
* ``CondAffineCoupling``: half the channels scaled and shifted by a function of the other half and u
  (SRFlow's conditional affine coupling layer); both use ``scale = sigmoid(s + 2) + 1e-4`` and a zero-initialised last conv, as the
  official code does, so that each step starts near a fixed contraction by sigmoid(2) = 0.88;
* ``Split``: half the channels leave the flow early, scored by a Gaussian whose mean and log-scale
  are predicted from the other half and u (a learned conditional prior).

``TinySRFlow`` puts them together: an LR encoder (whose features are passed on with the LR pixels), ``levels`` levels of [squeeze, 2 transition steps
(ActNorm + 1x1 conv), K conditional steps, split] and a standard normal at the top.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_positive, check_tensor

__all__ = [
    "squeeze",
    "unsqueeze",
    "ActNorm",
    "InvConv1x1",
    "AffineInjector",
    "CondAffineCoupling",
    "FlowStep",
    "Split",
    "TinySRFlow",
    "LRRegressor",
    "FrozenConditioner",
    "gaussian_log_prob",
    "bits_per_dim",
]

_LOG2PI = math.log(2 * math.pi)


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """2x2 space-to-depth: (N, C, H, W) -> (N, 4C, H/2, W/2); a permutation, so log-det 0."""
    check_tensor(x, "x", ndim=4)
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"squeeze: expected even height and width, got shape {tuple(x.shape)}")
    return F.pixel_unshuffle(x, 2)


def unsqueeze(z: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`squeeze`: (N, 4C, H, W) -> (N, C, 2H, 2W)."""
    check_tensor(z, "z", ndim=4)
    if z.shape[1] % 4:
        raise ValueError(f"unsqueeze: expected a channel count divisible by 4, got shape {tuple(z.shape)}")
    return F.pixel_shuffle(z, 2)


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor | None = None, log_scale: torch.Tensor | None = None) -> torch.Tensor:
    """Log-density of ``z`` under N(mean, exp(log_scale)^2), summed over all but the batch dimension."""
    if mean is None:
        mean = torch.zeros_like(z)
    if log_scale is None:
        log_scale = torch.zeros_like(z)
    lp = -0.5 * (_LOG2PI + 2 * log_scale + (z - mean) ** 2 * torch.exp(-2 * log_scale))
    return lp.flatten(1).sum(1)


def _noise(kind: str, shape, generator, like: torch.Tensor) -> torch.Tensor:
    """Standard normal (``kind="normal"``) or uniform [0, 1) noise of ``shape``, with ``like``'s dtype and device.

    A ``generator`` draws on its own device (a ``torch.Generator()`` on the CPU) and the noise is then moved to
    ``like``'s device: a network on a GPU seeded with a CPU generator gets exactly the CPU run's noise.
    Without a generator the global one of ``like``'s device draws.
    """
    draw = torch.randn if kind == "normal" else torch.rand
    where = like.device if generator is None else generator.device
    return draw(shape, generator=generator, dtype=like.dtype, device=where).to(like.device)


def _subnet(c_in: int, c_out: int, hidden: int) -> nn.Sequential:
    """SRFlow's F: conv3x3 -> ReLU -> conv1x1 -> ReLU -> zero-initialised conv3x3."""
    last = nn.Conv2d(hidden, c_out, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(), last)


def _scale(s: torch.Tensor) -> torch.Tensor:
    # the official code's bounded scale: in (1e-4, 1 + 1e-4), sigmoid(2) + 1e-4 = 0.881 at initialisation
    return torch.sigmoid(s + 2.0) + 1e-4


class ActNorm(nn.Module):
    """Per-channel affine ``z = (x + b) * exp(logs)`` (Glow), log-det ``H W sum(logs)``.

    Data-dependent initialisation: the first forward pass in training mode sets ``b`` and ``logs``
    so that that batch comes out with zero mean and unit variance per channel.
    """

    def __init__(self, channels: int):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    def _init(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            mean = x.mean(dim=(0, 2, 3), keepdim=True)
            std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
            self.bias.copy_(-mean)
            self.logs.copy_(torch.log(1.0 / (std + 1e-6)))
            self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            self._init(x)
        logdet = self.logs.sum() * x.shape[2] * x.shape[3]
        return (x + self.bias) * torch.exp(self.logs), logdet.expand(x.shape[0])

    def reverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(-self.logs) - self.bias


class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution (Glow): ``z = W x`` at every position, log-det ``H W log|det W|``.

    ``W`` starts as a random rotation (QR of a seeded Gaussian matrix, so the global random state
    is not consumed differently from run to run).
    """

    def __init__(self, channels: int, seed: int = 0):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=g))
        self.weight = nn.Parameter(q)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = torch.linalg.slogdet(self.weight)[1] * x.shape[2] * x.shape[3]
        w = self.weight.view(*self.weight.shape, 1, 1)
        return F.conv2d(x, w), logdet.expand(x.shape[0])

    def reverse(self, z: torch.Tensor) -> torch.Tensor:
        w_inv = torch.linalg.inv(self.weight)
        return F.conv2d(z, w_inv.view(*w_inv.shape, 1, 1))


class AffineInjector(nn.Module):
    """SRFlow's affine injector layer: ``(shift, s) = F(u)``, ``z = (x + shift) * scale``, scale = sigmoid(s+2)+1e-4.

    The conditioning features ``u`` reach every channel, whatever the coupling split.
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32):
        super().__init__()
        self.net = _subnet(cond_channels, 2 * channels, hidden)

    def _params(self, u):
        shift, s = self.net(u).chunk(2, dim=1)
        return shift, _scale(s)

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift, scale = self._params(u)
        return (x + shift) * scale, torch.log(scale).flatten(1).sum(1)

    def reverse(self, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        shift, scale = self._params(u)
        return z / scale - shift


class CondAffineCoupling(nn.Module):
    """SRFlow's conditional affine coupling layer: ``x = [x1, x2]``, ``(shift, s) = F([x1, u])``, ``x2 <- (x2 + shift) * scale``.

    ``x1`` (the first ``channels // 2`` channels) passes unchanged, so the Jacobian is triangular and
    its log-determinant is ``sum(log scale)``.
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32):
        super().__init__()
        if channels < 2:
            raise ValueError(f"CondAffineCoupling: expected at least 2 channels, got {channels}")
        self.c1 = channels // 2
        self.net = _subnet(self.c1 + cond_channels, 2 * (channels - self.c1), hidden)

    def _params(self, x1, u):
        shift, s = self.net(torch.cat([x1, u], dim=1)).chunk(2, dim=1)
        return shift, _scale(s)

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = x[:, : self.c1], x[:, self.c1 :]
        shift, scale = self._params(x1, u)
        return torch.cat([x1, (x2 + shift) * scale], dim=1), torch.log(scale).flatten(1).sum(1)

    def reverse(self, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        z1, z2 = z[:, : self.c1], z[:, self.c1 :]
        shift, scale = self._params(z1, u)
        return torch.cat([z1, z2 / scale - shift], dim=1)


class FlowStep(nn.Module):
    """One SRFlow step: ActNorm -> invertible 1x1 conv -> [affine injector -> conditional coupling].

    With ``cond_channels=0`` it is a transition step (ActNorm and 1x1 conv only).
    """

    def __init__(self, channels: int, cond_channels: int = 0, hidden: int = 32, seed: int = 0):
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvConv1x1(channels, seed=seed)
        self.conditional = cond_channels > 0
        if self.conditional:
            self.injector = AffineInjector(channels, cond_channels, hidden)
            self.coupling = CondAffineCoupling(channels, cond_channels, hidden)

    def forward(self, x, u=None):
        x, ld = self.actnorm(x)
        x, ld2 = self.invconv(x)
        ld = ld + ld2
        if self.conditional:
            x, ld3 = self.injector(x, u)
            x, ld4 = self.coupling(x, u)
            ld = ld + ld3 + ld4
        return x, ld

    def reverse(self, z, u=None):
        if self.conditional:
            z = self.coupling.reverse(z, u)
            z = self.injector.reverse(z, u)
        return self.actnorm.reverse(self.invconv.reverse(z))


class Split(nn.Module):
    """Split with a learned conditional prior: keep the first half, score the rest under N(mean, exp(logs)^2).

    ``(mean, logs) = conv3x3([z_keep, u])``, zero-initialised (a standard normal at the start). With
    ``conditional=False`` the prior sees ``z_keep`` only, ``conv3x3(z_keep)``, as in the official SRFlow
    configurations (their ``split.conditional`` is off).
    Forward returns ``(z_keep, z_out, log p(z_out | z_keep, u))``; reverse draws or takes ``z_out``.
    """

    def __init__(self, channels: int, cond_channels: int, conditional: bool = True):
        super().__init__()
        self.keep = channels // 2
        self.conditional = bool(conditional)
        c_in = self.keep + (cond_channels if self.conditional else 0)
        self.prior = nn.Conv2d(c_in, 2 * (channels - self.keep), 3, padding=1)
        nn.init.zeros_(self.prior.weight)
        nn.init.zeros_(self.prior.bias)

    def _prior(self, z_keep, u):
        h = torch.cat([z_keep, u], dim=1) if self.conditional else z_keep
        return self.prior(h).chunk(2, dim=1)

    def forward(self, z, u):
        z_keep, z_out = z[:, : self.keep], z[:, self.keep :]
        mean, logs = self._prior(z_keep, u)
        return z_keep, z_out, gaussian_log_prob(z_out, mean, logs)

    def reverse(self, z_keep, u, z_out=None, tau: float = 1.0, generator=None):
        mean, logs = self._prior(z_keep, u)
        if z_out is None:
            eps = _noise("normal", mean.shape, generator, mean)
            z_out = mean + tau * torch.exp(logs) * eps
        return torch.cat([z_keep, z_out], dim=1)


class _Encoder(nn.Module):
    """Features u of the low-resolution image (SRFlow uses an RRDB network; here a few convolutions)."""

    def __init__(self, cond_channels: int, hidden: int):
        super().__init__()
        self.head = nn.Conv2d(3, hidden, 3, padding=1)
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1))
        self.tail = nn.Conv2d(hidden, cond_channels, 3, padding=1)

    def forward(self, lr):
        h = self.head(lr)
        return torch.cat([self.tail(h + self.body(h)), lr], dim=1)  # the LR pixels themselves are passed on too


class TinySRFlow(nn.Module):
    """A miniature SRFlow: y (N, 3, sH, sW) <-> latents, conditioned on the LR image x (N, 3, H, W).

    ``scale``: the SR factor (HR size / LR size); the HR size must be divisible by 2**levels. Level l (1..levels): squeeze, 2 transition steps, ``steps`` conditional
    steps fed with the LR features resized to that level, then (except at the top) a split with a
    learned conditional prior. The top latent is standard normal. Methods: ``forward(y, x)`` ->
    ``(zs, logdet)``; ``log_prob(y, x)``; ``reverse(x, zs=None, tau=..., generator=...)``;
    ``sample``; ``nll_bits`` (bits per dimension with dequantisation). ``encoder``: an optional external
    LR network returning ``cond_channels`` feature maps (by default a small trainable one whose features
    are passed on with the LR pixels). ``split_conditional``: whether the split priors see ``u`` (True,
    the default) or only the kept half (False, as the official configurations). ``base``: an optional
    frozen network ``x -> y_hat`` (N, 3, sH, sW); the flow then starts with the fixed conditional shift
    ``h = y - y_hat(x)`` (log-det 0, undone by adding ``y_hat(x)`` back in ``reverse``), so it models the
    HR image relative to a PSNR-trained prediction. Taught in chapters/srflow.md.
    """

    def __init__(
        self,
        scale: int = 4,
        levels: int = 2,
        steps: int = 2,
        hidden: int = 32,
        cond_channels: int = 16,
        enc_hidden: int = 32,
        encoder: nn.Module | None = None,
        split_conditional: bool = True,
        base: nn.Module | None = None,
    ):
        super().__init__()
        for v, n in ((scale, "scale"), (levels, "levels"), (steps, "steps"), (hidden, "hidden"), (cond_channels, "cond_channels"), (enc_hidden, "enc_hidden")):
            check_positive(v, n, integer=True)
        self.levels, self.scale = levels, scale
        if encoder is None:
            self.encoder = _Encoder(cond_channels, enc_hidden)
            cond_channels = cond_channels + 3  # encoder features and the LR image
        else:
            # an external LR encoder (SRFlow starts from a PSNR-trained RRDB network): it must map
            # (N, 3, h, w) to (N, cond_channels, h', w'); freeze it (requires_grad False) to keep it fixed
            if not isinstance(encoder, nn.Module):
                raise TypeError(f"encoder: expected a torch.nn.Module, got {type(encoder).__name__}")
            self.encoder = encoder
        self.cond_channels = cond_channels
        if base is not None and not isinstance(base, nn.Module):
            raise TypeError(f"base: expected a torch.nn.Module (a frozen LR -> HR network) or None, got {type(base).__name__}")
        self.base = base
        self.blocks, self.splits = nn.ModuleList(), nn.ModuleList()
        c, seed = 3, 0
        for level in range(levels):
            c *= 4
            layers = []
            for _ in range(2):
                layers.append(FlowStep(c, 0, seed=seed))
                seed += 1
            for _ in range(steps):
                layers.append(FlowStep(c, cond_channels, hidden, seed=seed))
                seed += 1
            self.blocks.append(nn.ModuleList(layers))
            if level < levels - 1:
                self.splits.append(Split(c, cond_channels, conditional=split_conditional))
                c = c // 2  # the kept half goes on to the next level
        self.top_channels = c

    def _check(self, y, x):
        check_tensor(x, "lr", ndim=4, channels=3)
        if y is not None:
            check_tensor(y, "hr", ndim=4, channels=3)
            if y.shape[0] != x.shape[0] or y.shape[-2] != self.scale * x.shape[-2] or y.shape[-1] != self.scale * x.shape[-1]:
                raise ValueError(
                    f"hr and lr: expected the same batch and hr {self.scale}x the size of lr, "
                    f"got shapes {tuple(y.shape)} and {tuple(x.shape)}"
                )
        k = 2**self.levels
        if (self.scale * x.shape[-2]) % k or (self.scale * x.shape[-1]) % k:
            raise ValueError(f"hr: expected a height and width divisible by 2**levels = {k}, got lr shape {tuple(x.shape)} at scale {self.scale}")

    def _conds(self, x):
        u = self.encoder(x)
        if u.ndim != 4 or u.shape[1] != self.cond_channels:
            raise ValueError(f"encoder: expected features with {self.cond_channels} channels (N, C, H, W), got shape {tuple(u.shape)}")
        # level l (0-based) works at the HR size / 2**(l+1); resize u there (bilinear) unless it already fits
        sizes = [(self.scale * x.shape[-2] // 2 ** (lv + 1), self.scale * x.shape[-1] // 2 ** (lv + 1)) for lv in range(self.levels)]
        return [u if s == tuple(u.shape[-2:]) else F.interpolate(u, size=s, mode="bilinear", align_corners=False) for s in sizes]

    def forward(self, y: torch.Tensor, x: torch.Tensor):
        """Map HR ``y`` to latents ``zs`` (split-off latents, then the top one) and the log-det per sample.

        Returns ``(zs, logdet, prior_logp)``: ``prior_logp`` is the log-density of the split-off
        latents under their learned priors plus that of the top latent under N(0, I).
        """
        self._check(y, x)
        conds = self._conds(x)
        h = y if self.base is None else y - self._base(x, y.shape)
        logdet = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
        prior = torch.zeros_like(logdet)
        zs = []
        for level in range(self.levels):
            h = squeeze(h)
            for step in self.blocks[level]:
                h, ld = step(h, conds[level])
                logdet = logdet + ld
            if level < self.levels - 1:
                h, z_out, lp = self.splits[level](h, conds[level])
                zs.append(z_out)
                prior = prior + lp
        zs.append(h)
        prior = prior + gaussian_log_prob(h)
        return zs, logdet, prior

    def log_prob(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(y | x) in nats per image, on the [0, 1] pixel scale, shape (N,)."""
        _, logdet, prior = self.forward(y, x)
        return logdet + prior

    def nll_bits(self, y: torch.Tensor, x: torch.Tensor, *, n_bins: int = 256, dequantize: bool = True, generator=None) -> torch.Tensor:
        """Mean negative log-likelihood in bits per dimension, the training loss.

        With ``dequantize``, uniform noise U(-1/2, 1/2) / ``n_bins`` is added to ``y`` (pixels are
        discrete), and ``log2(n_bins)`` per dimension turns the density into a probability of the bin.
        """
        check_positive(n_bins, "n_bins", integer=True)
        self._check(y, x)
        if dequantize:
            y = y + (_noise("uniform", y.shape, generator, y) - 0.5) / n_bins
        d = y[0].numel()
        lp = self.log_prob(y, x)
        return (-lp / d + math.log(n_bins)).mean() / math.log(2.0)

    def reverse(self, x: torch.Tensor, zs=None, *, tau: float = 1.0, generator=None) -> torch.Tensor:
        """Map latents back to an HR image given the LR ``x``; with ``zs=None`` draw them at temperature ``tau``.

        ``tau = 0`` gives the mode-like sample built from the prior means.
        """
        self._check(None, x)
        check_positive(tau, "tau", allow_zero=True)
        conds = self._conds(x)
        n = x.shape[0]
        if zs is not None:
            if len(zs) != self.levels:
                raise ValueError(f"reverse: expected {self.levels} latents (as returned by forward), got {len(zs)}")
            h = zs[-1]
        else:
            k = 2**self.levels
            shape = (n, self.top_channels, self.scale * x.shape[-2] // k, self.scale * x.shape[-1] // k)
            h = tau * _noise("normal", shape, generator, x)
        for level in reversed(range(self.levels)):
            if level < self.levels - 1:
                h = self.splits[level].reverse(h, conds[level], None if zs is None else zs[level], tau=tau, generator=generator)
            for step in reversed(self.blocks[level]):
                h = step.reverse(h, conds[level])
            h = unsqueeze(h)
        return h if self.base is None else h + self._base(x, h.shape)

    def _base(self, x, shape):
        b = self.base(x)
        if tuple(b.shape) != tuple(shape):
            raise ValueError(f"base: expected an output of shape {tuple(shape)} (the HR image), got {tuple(b.shape)}")
        return b

    @torch.no_grad()
    def sample(self, x: torch.Tensor, tau: float = 0.8, *, n: int = 1, generator=None) -> torch.Tensor:
        """``n`` samples per LR image at temperature ``tau``: (n, N, 3, sH, sW), not clipped."""
        check_positive(n, "n", integer=True)
        return torch.stack([self.reverse(x, tau=tau, generator=generator) for _ in range(n)])


class LRRegressor(nn.Module):
    """A small PSNR-oriented SR network: the flow's LR encoder and the deterministic baseline.

    conv3x3 head (``width`` channels), ``blocks`` residual blocks (conv3x3, ReLU, conv3x3) with a skip
    over the body, a sub-pixel upsampler (``utils.sr.SubPixelUpsampler``: stages of x2 with ReLU), a
    conv3x3 to RGB, plus the bicubic upscaling of the input (the network learns the residual over bicubic). ``run(x)`` returns
    ``(features at the LR grid, prediction)``; ``forward(x)`` the prediction (N, 3, sH, sW).
    SRFlow starts from a PSNR-trained RRDB network in this role.
    """

    def __init__(self, scale: int = 4, width: int = 32, blocks: int = 4):
        super().__init__()
        for v, n in ((scale, "scale"), (width, "width"), (blocks, "blocks")):
            check_positive(v, n, integer=True)
        from .sr import SubPixelUpsampler

        self.scale, self.width = scale, width
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.body = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1)) for _ in range(blocks)
        )
        self.up = SubPixelUpsampler(width, scale, activation=nn.ReLU())
        self.out = nn.Conv2d(width, 3, 3, padding=1)

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor(x, "lr", ndim=4, channels=3)
        h = self.head(x)
        f = h
        for block in self.body:
            f = f + block(f)
        feats = h + f
        skip = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return feats, skip + self.out(self.up(feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[1]


class FrozenConditioner(nn.Module):
    """The flow's conditioning ``u``: the LR-grid features of a frozen :class:`LRRegressor`.

    Output (N, width, H, W) for an LR input (N, 3, H, W); with ``with_prediction`` the regressor's
    prediction squeezed to the LR grid is appended (N, width + 3 scale**2, H, W). The regressor's
    parameters are set to ``requires_grad=False`` (SRFlow keeps its RRDB encoder fixed at the start).
    """

    def __init__(self, regressor: LRRegressor, with_prediction: bool = False):
        super().__init__()
        if not isinstance(regressor, LRRegressor):
            raise TypeError(f"regressor: expected an LRRegressor, got {type(regressor).__name__}")
        self.reg = regressor
        for p in self.reg.parameters():
            p.requires_grad_(False)
        self.with_prediction = bool(with_prediction)
        self.channels = regressor.width + (3 * regressor.scale**2 if self.with_prediction else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, sr = self.reg.run(x)
        return torch.cat([feats, F.pixel_unshuffle(sr, self.reg.scale)], dim=1) if self.with_prediction else feats


def bits_per_dim(log_prob: torch.Tensor, dims: int, n_bins: int = 256) -> torch.Tensor:
    """Convert log p (nats, continuous density on [0, 1]) to bits per dimension of the discrete image."""
    check_positive(dims, "dims", integer=True)
    return (-log_prob / dims + math.log(n_bins)) / math.log(2.0)
