"""MIRNet (Zamir et al., ECCV 2020) in the layout of the official code, with its quirks kept.

Taught in chapters/mirnet.md. Building blocks:

- :class:`SKFF`, selective kernel feature fusion (paper eq. 1-2 / Fig. 2): sum the branches, global
  average pooling, a 1x1 down-projection with PReLU, one 1x1 up-projection per branch, softmax across
  branches per channel, weighted sum.
- :class:`DAU`, dual attention unit (paper Fig. 3): conv3x3-PReLU-conv3x3, then spatial attention
  (5x5 conv of [channel max; channel mean], sigmoid) and channel attention (squeeze-excitation with
  reduction 8), concatenated, fused by a 1x1 conv, plus the input.
- :class:`ResidualDownSample` / :class:`ResidualUpSample` (paper Fig. 4), chained by
  :class:`DownSample` / :class:`UpSample` for factors 2, 4.
- :class:`MRB` (multi-scale residual block, "MSRB" in the code), :class:`RRG` (recursive residual
  group) and :class:`MIRNet`.

Quirks of the official code that are kept (``official_quirks=True``, the default) so that the
parameter count matches the released model:

1. ``nn.ModuleList([DAU(...)] * width)``: the ``width`` DAUs of one stream are *one* module used
   ``width`` times, so they share their weights.
2. ``DAU(..., act=nn.PReLU())`` is a default argument, evaluated once, so every DAU uses the same
   PReLU (here: one PReLU per model; in the official code one per Python process).
3. The final fusion of an MRB reuses the first stream's SKFF (``selective_kernel[0]``), the one
   also used in the exchange between streams.

With ``official_quirks=False`` each of these gets its own weights. ``fusion`` replaces SKFF by a
plain sum or by concatenation followed by a 1x1 conv (the chapter's ablation).

Multiply-adds are counted with :func:`utils.cost.measure_cost` (chapters/octconv.md).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_choice, check_positive, check_tensor

__all__ = [
    "SKFF", "SumFusion", "ConcatFusion", "DAU", "BlurPool", "ResidualDownSample", "ResidualUpSample",
    "DownSample", "UpSample", "MRB", "RRG", "MIRNet", "PlainCNN", "attention_spread",
]

FUSIONS = ("skff", "sum", "concat")


def _check_branches(feats, n: int, name: str) -> None:
    if not isinstance(feats, (list, tuple)) or len(feats) != n:
        raise ValueError(f"{name}: expected a list of {n} tensors (one per branch), got {type(feats).__name__} of length {len(feats) if hasattr(feats, '__len__') else '?'}")
    for i, f in enumerate(feats):
        check_tensor(f, f"{name} branch {i}", ndim=4)
        if f.shape != feats[0].shape:
            raise ValueError(f"{name}: all branches must have the same shape, got {tuple(feats[0].shape)} and {tuple(f.shape)}")


class SKFF(nn.Module):
    """Selective kernel feature fusion (MIRNet eq. 1-2, Fig. 2). Taught in chapters/mirnet.md.

    ``U = sum_i L_i``; ``s = GAP(U)``; ``z = PReLU(W_d s)`` with ``d = max(C // reduction, 4)``;
    ``v_i = W_i z`` (one 1x1 conv per branch); ``a = softmax_i(v_i)`` per channel; ``V = sum_i a_i L_i``.
    No biases (as in the official code). ``last_attention`` keeps the weights ``a`` of the last call,
    shape (N, branches, C).
    """

    def __init__(self, channels: int, branches: int = 3, reduction: int = 8, bias: bool = False):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        check_positive(branches, "branches", integer=True)
        check_positive(reduction, "reduction", integer=True)
        self.channels, self.branches = channels, branches
        d = max(int(channels / reduction), 4)
        self.squeeze = nn.Sequential(nn.Conv2d(channels, d, 1, bias=bias), nn.PReLU())
        self.excite = nn.ModuleList([nn.Conv2d(d, channels, 1, bias=bias) for _ in range(branches)])
        self.last_attention: torch.Tensor | None = None

    def forward(self, feats):
        _check_branches(feats, self.branches, "SKFF")
        stack = torch.stack(list(feats), dim=1)  # (N, branches, C, H, W)
        z = self.squeeze(stack.sum(1).mean(dim=(2, 3), keepdim=True))
        logits = torch.stack([fc(z) for fc in self.excite], dim=1)  # (N, branches, C, 1, 1)
        attn = torch.softmax(logits, dim=1)
        self.last_attention = attn[..., 0, 0].detach()
        return (stack * attn).sum(1)


class SumFusion(nn.Module):
    """Ablation of SKFF: plain sum of the branches (no parameters)."""

    def __init__(self, channels: int, branches: int = 3):
        super().__init__()
        self.branches = branches

    def forward(self, feats):
        _check_branches(feats, self.branches, "SumFusion")
        return torch.stack(list(feats), 0).sum(0)


class ConcatFusion(nn.Module):
    """Ablation of SKFF: concatenate the branches and mix them with a 1x1 conv (no bias)."""

    def __init__(self, channels: int, branches: int = 3, bias: bool = False):
        super().__init__()
        self.branches = branches
        self.mix = nn.Conv2d(branches * channels, channels, 1, bias=bias)

    def forward(self, feats):
        _check_branches(feats, self.branches, "ConcatFusion")
        return self.mix(torch.cat(list(feats), 1))


def _fusion(kind: str, channels: int, branches: int) -> nn.Module:
    return {"skff": SKFF, "sum": SumFusion, "concat": ConcatFusion}[kind](channels, branches)


class DAU(nn.Module):
    """Dual attention unit (MIRNet Fig. 3). Taught in chapters/mirnet.md.

    ``M = conv3x3(PReLU(conv3x3(x)))``; spatial attention ``SA = M * sigmoid(conv5x5([max_c M; mean_c M]))``;
    channel attention ``CA = M * sigmoid(W_up ReLU(W_down GAP(M)))`` (reduction 8);
    ``out = x + conv1x1([SA; CA])``. No biases. ``act`` lets several DAUs share one PReLU (official quirk).
    """

    def __init__(self, channels: int, reduction: int = 8, bias: bool = False, act: nn.Module | None = None):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        check_positive(reduction, "reduction", integer=True)
        self.channels = channels
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias), act if act is not None else nn.PReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
        )
        self.spatial = nn.Conv2d(2, 1, 5, padding=2, bias=False)
        hidden = max(channels // reduction, 1)
        self.channel = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=bias), nn.ReLU(), nn.Conv2d(hidden, channels, 1, bias=bias), nn.Sigmoid()
        )
        self.fuse = nn.Conv2d(2 * channels, channels, 1, bias=bias)

    def forward(self, x):
        check_tensor(x, "DAU input", ndim=4, channels=self.channels)
        m = self.body(x)
        pooled = torch.cat([m.amax(1, keepdim=True), m.mean(1, keepdim=True)], 1)
        sa = m * torch.sigmoid(self.spatial(pooled))
        ca = m * self.channel(m.mean(dim=(2, 3), keepdim=True))
        return x + self.fuse(torch.cat([sa, ca], 1))


class BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling: reflect-pad, blur with the binomial [1, 2, 1]^T [1, 2, 1] / 16, keep every 2nd pixel.

    No learned parameters (the filter is a buffer), as the ``downsamp`` of the official code.
    """

    def __init__(self, channels: int):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :]) / 16.0
        self.register_buffer("filt", k.expand(channels, 1, 3, 3).clone(), persistent=False)
        self.channels = channels

    def forward(self, x):
        check_tensor(x, "BlurPool input", ndim=4, channels=self.channels, min_size=2)
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt.to(x.dtype), stride=2, groups=self.channels)


class ResidualDownSample(nn.Module):
    """Halve resolution, double channels (MIRNet Fig. 4a): [1x1, PReLU, 3x3, PReLU, blur-pool, 1x1 C->2C] + [blur-pool, 1x1 C->2C]."""

    def __init__(self, channels: int, bias: bool = False):
        super().__init__()
        c = channels
        self.top = nn.Sequential(
            nn.Conv2d(c, c, 1, bias=bias), nn.PReLU(), nn.Conv2d(c, c, 3, padding=1, bias=bias), nn.PReLU(),
            BlurPool(c), nn.Conv2d(c, 2 * c, 1, bias=bias),
        )
        self.bot = nn.Sequential(BlurPool(c), nn.Conv2d(c, 2 * c, 1, bias=bias))

    def forward(self, x):
        return self.top(x) + self.bot(x)


class ResidualUpSample(nn.Module):
    """Double resolution, halve channels (MIRNet Fig. 4b): [1x1, PReLU, ConvT 3x3 s2, PReLU, 1x1 C->C/2] + [bilinear x2, 1x1 C->C/2]."""

    def __init__(self, channels: int, bias: bool = False):
        super().__init__()
        c = channels
        self.top = nn.Sequential(
            nn.Conv2d(c, c, 1, bias=bias), nn.PReLU(),
            nn.ConvTranspose2d(c, c, 3, stride=2, padding=1, output_padding=1, bias=bias), nn.PReLU(),
            nn.Conv2d(c, c // 2, 1, bias=bias),
        )
        self.bot = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c, c // 2, 1, bias=bias))

    def forward(self, x):
        return self.top(x) + self.bot(x)


class DownSample(nn.Sequential):
    """``log2(factor)`` chained :class:`ResidualDownSample` (channels double at each step)."""

    def __init__(self, channels: int, factor: int):
        steps = int(math.log2(factor))
        super().__init__(*[ResidualDownSample(channels * 2**i) for i in range(steps)])


class UpSample(nn.Sequential):
    """``log2(factor)`` chained :class:`ResidualUpSample` (channels halve at each step)."""

    def __init__(self, channels: int, factor: int):
        steps = int(math.log2(factor))
        super().__init__(*[ResidualUpSample(channels // 2**i) for i in range(steps)])


class MRB(nn.Module):
    """Multi-scale residual block (MIRNet Fig. 1, "MSRB" in the code). Taught in chapters/mirnet.md.

    ``height`` parallel streams at 1, 1/2, 1/4, ... resolution with C, 2C, 4C, ... channels; ``width``
    columns of DAUs; between columns every stream receives all streams, resampled to its size and
    fused (SKFF by default); at the end all streams are upsampled to full resolution, fused, passed
    through a 3x3 conv and added to the input.
    """

    def __init__(self, n_feat: int, height: int = 3, width: int = 2, fusion: str = "skff",
                 official_quirks: bool = True, act: nn.Module | None = None, bias: bool = False):
        super().__init__()
        check_positive(n_feat, "n_feat", integer=True)
        check_positive(height, "height", integer=True)
        check_positive(width, "width", integer=True)
        check_choice(fusion, "fusion", FUSIONS)
        self.n_feat, self.height, self.width, self.quirks = n_feat, height, width, official_quirks
        feats = [n_feat * 2**i for i in range(height)]
        act = act if act is not None else (nn.PReLU() if official_quirks else None)
        if official_quirks:
            self.blocks = nn.ModuleList([nn.ModuleList([DAU(f, act=act)] * width) for f in feats])
        else:
            self.blocks = nn.ModuleList([nn.ModuleList([DAU(f) for _ in range(width)]) for f in feats])
        # resamplers between stream k (channels feats[k]) and stream j, keyed "k->j"
        self.resample = nn.ModuleDict()
        for k in range(height):
            for j in range(height):
                if j > k:
                    self.resample[f"{k}->{j}"] = DownSample(feats[k], 2 ** (j - k))
                elif j < k:
                    self.resample[f"{k}->{j}"] = UpSample(feats[k], 2 ** (k - j))
        # the official code builds separate "last_up" upsamplers for the final fusion
        self.last_up = nn.ModuleDict({str(k): UpSample(feats[k], 2**k) for k in range(1, height)})
        n_fusions = height if official_quirks else height + 1
        self.fusions = nn.ModuleList([_fusion(fusion, feats[j] if j < height else n_feat, height) for j in range(n_fusions)])
        self.conv_out = nn.Conv2d(n_feat, n_feat, 3, padding=1, bias=bias)

    @property
    def final_fusion(self) -> nn.Module:
        """The fusion used at the end: the first stream's (official quirk 3) or its own."""
        return self.fusions[0] if self.quirks else self.fusions[self.height]

    def forward(self, x):
        check_tensor(x, "MRB input", ndim=4, channels=self.n_feat, min_size=2 ** (self.height - 1))
        if x.shape[-1] % 2 ** (self.height - 1) or x.shape[-2] % 2 ** (self.height - 1):
            raise ValueError(f"MRB: height and width must be multiples of {2 ** (self.height - 1)}, got {tuple(x.shape[-2:])}")
        streams, h = [], x
        for j in range(self.height):  # first column: go down stream by stream
            h = self.blocks[j][0](h if j == 0 else self.resample[f"{j - 1}->{j}"](h))
            streams.append(h)
        for i in range(1, self.width):  # every further column: exchange across scales, then DAUs
            mixed = [
                self.fusions[j]([streams[k] if k == j else self.resample[f"{k}->{j}"](streams[k]) for k in range(self.height)])
                for j in range(self.height)
            ]
            streams = [self.blocks[j][i](mixed[j]) for j in range(self.height)]
        full = [streams[0]] + [self.last_up[str(k)](streams[k]) for k in range(1, self.height)]
        return x + self.conv_out(self.final_fusion(full))


class RRG(nn.Module):
    """Recursive residual group: ``n_mrb`` MRBs and a 3x3 conv, plus a skip (MIRNet Fig. 1)."""

    def __init__(self, n_feat: int, n_mrb: int = 2, height: int = 3, width: int = 2, fusion: str = "skff",
                 official_quirks: bool = True, act: nn.Module | None = None):
        super().__init__()
        check_positive(n_mrb, "n_MSRB", integer=True)
        self.body = nn.Sequential(
            *[MRB(n_feat, height, width, fusion, official_quirks, act) for _ in range(n_mrb)],
            nn.Conv2d(n_feat, n_feat, 3, padding=1, bias=False),
        )

    def forward(self, x):
        return x + self.body(x)


class MIRNet(nn.Module):
    """MIRNet (Zamir et al., ECCV 2020, Fig. 1): conv3x3 -> ``n_RRG`` RRGs -> conv3x3, plus the input image.

    Defaults are the paper's (n_feat 64, 3 RRGs of 2 MRBs, height 3, width 2, no biases): about 31.8 M
    parameters. Inputs need sides divisible by ``2 ** (height - 1)``. Taught in chapters/mirnet.md.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, n_feat: int = 64, n_RRG: int = 3,
                 n_MSRB: int = 2, height: int = 3, width: int = 2, fusion: str = "skff", official_quirks: bool = True):
        super().__init__()
        for v, name in ((in_channels, "in_channels"), (out_channels, "out_channels"), (n_feat, "n_feat"), (n_RRG, "n_RRG")):
            check_positive(v, name, integer=True)
        check_choice(fusion, "fusion", FUSIONS)
        self.in_channels = in_channels
        act = nn.PReLU() if official_quirks else None  # quirk 2: one PReLU shared by every DAU
        self.conv_in = nn.Conv2d(in_channels, n_feat, 3, padding=1, bias=False)
        self.body = nn.Sequential(*[RRG(n_feat, n_MSRB, height, width, fusion, official_quirks, act) for _ in range(n_RRG)])
        self.conv_out = nn.Conv2d(n_feat, out_channels, 3, padding=1, bias=False)
        self.out_channels = out_channels

    def forward(self, x):
        check_tensor(x, "MIRNet input", ndim=4, channels=self.in_channels)
        out = self.conv_out(self.body(self.conv_in(x)))
        return out + x if self.out_channels == self.in_channels else out

    def skff_layers(self) -> list[SKFF]:
        """All SKFF modules, in forward order of their MRBs (empty for other fusions)."""
        return [m for m in self.modules() if isinstance(m, SKFF)]


class PlainCNN(nn.Module):
    """Full-resolution residual denoiser in the style of DnCNN (the chapter's equal-parameter baseline).

    ``depth`` 3x3 convolutions of ``width`` channels with ReLU between them; the output is added to the
    input. ``init="he"`` (default) draws every convolution from He et al.'s normal initialisation
    (variance ``2 / fan_in``, which keeps the activations' scale through ReLU layers) and sets the last
    convolution to zero, so the untrained network is the identity. ``init="torch"`` keeps PyTorch's
    default (uniform, variance ``1 / (3 fan_in)``): through ReLU each layer then multiplies the
    activations' second moment by about 1/6, and the deep stack's residual starts out (and stays) near
    zero -- the defect of the chapter's earlier baseline. ``batch_norm`` adds BatchNorm after the inner
    convolutions, as DnCNN does.
    """

    def __init__(self, in_channels: int = 3, width: int = 32, depth: int = 11, *, batch_norm: bool = False,
                 init: str = "he"):
        super().__init__()
        check_positive(in_channels, "in_channels", integer=True)
        check_positive(width, "width", integer=True)
        check_positive(depth, "depth", integer=True)
        if depth < 2:
            raise ValueError(f"PlainCNN: depth must be >= 2 (first and last convolution), got {depth}")
        check_choice(init, "init", ("he", "torch"))
        self.in_channels = in_channels
        layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU())
        layers.append(nn.Conv2d(width, in_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        if init == "he":
            convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
            for conv in convs[:-1]:
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
            nn.init.zeros_(convs[-1].weight)
            nn.init.zeros_(convs[-1].bias)

    def forward(self, x):
        check_tensor(x, "PlainCNN input", ndim=4, channels=self.in_channels)
        return x + self.body(x)


def attention_spread(model: nn.Module) -> float:
    """Mean ``|a - 1/k|`` of the SKFF weights of ``model``'s last forward pass (0 = every fusion is the mean).

    Averaged over the images of the last batch, the branches, the channels and the SKFF modules.
    """
    layers = [m for m in model.modules() if isinstance(m, SKFF)]
    if not layers:
        raise ValueError("attention_spread: the model has no SKFF module")
    if any(m.last_attention is None for m in layers):
        raise ValueError("attention_spread: run a forward pass first (an SKFF has no stored weights)")
    return float(sum(float((m.last_attention - 1 / m.branches).abs().mean()) for m in layers) / len(layers))
