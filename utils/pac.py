"""Pixel-adaptive convolution (Su et al., CVPR 2019), built on ``F.unfold``. Taught in chapters/pac.md.

PAC, eq. (3) of the paper::

    v'_i = sum_{j in Omega(i)} K(f_i, f_j) W[p_i - p_j] v_j + b

A standard convolution is the case ``K = 1``. Here ``K`` is the Gaussian
``exp(-1/2 ||f_i - f_j||^2)`` on adaptive features ``f`` that the caller chooses (fixed, e.g.
scaled position and colour, or produced by a network). With ``normalize=True`` the kernel is divided
by its sum over the window, which with ``W = 1`` gives a (joint) bilateral filter.

Neighbours that fall outside the image (zero padding) get ``K = 0``, so normalised filters average
only over pixels inside the image; with ``K = 1`` this changes nothing because the padded values are 0.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_positive, check_tensor

__all__ = ["gaussian_adaptive_kernel", "pac_conv2d", "PacConv2d", "position_colour_features", "joint_bilateral_upsample"]


def _pair_int(v, name):
    check_positive(v, name, integer=True, allow_zero=name in ("padding",))
    return int(v)


def _out_size(h, k, stride, padding, dilation):
    return (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _windows(t: torch.Tensor, k: int, stride, padding, dilation, who: str):
    """Unfold ``t`` (N, C, H, W) into k x k windows: returns (cols of shape (N, C, k*k, Ho*Wo), Ho, Wo)."""
    stride, padding, dilation = _pair_int(stride, "stride"), _pair_int(padding, "padding"), _pair_int(dilation, "dilation")
    n, c, h, w = t.shape
    ho, wo = _out_size(h, k, stride, padding, dilation), _out_size(w, k, stride, padding, dilation)
    if ho < 1 or wo < 1:
        raise ValueError(f"{who}: a {k}x{k} window does not fit a {h}x{w} input with padding {padding}")
    return F.unfold(t, k, dilation=dilation, padding=padding, stride=stride).view(n, c, k * k, ho * wo), ho, wo


def gaussian_adaptive_kernel(f: torch.Tensor, kernel_size: int, *, stride: int = 1, padding: int = 0, dilation: int = 1) -> torch.Tensor:
    """Adaptive kernel ``K[n, j, i] = exp(-1/2 ||f_i - f_j||^2)`` of PAC eq. (3), shape (N, k*k, H_out, W_out).

    ``i`` runs over output positions (the centre of each window), ``j`` over the ``k*k`` taps of the
    window. Taps outside the image get 0. ``kernel_size`` must be odd (the window needs a centre).
    """
    check_tensor(f, "f", ndim=4)
    k = _pair_int(kernel_size, "kernel_size")
    if k % 2 == 0:
        raise ValueError(f"gaussian_adaptive_kernel: kernel_size must be odd so the window has a centre, got {k}")
    n, d, h, w = f.shape
    cols, ho, wo = _windows(f, k, stride, padding, dilation, "gaussian_adaptive_kernel")
    centre = cols[:, :, (k * k) // 2 : (k * k) // 2 + 1]
    kern = torch.exp(-0.5 * ((cols - centre) ** 2).sum(1))  # (N, k*k, L)
    if padding:
        inside = F.unfold(torch.ones(1, 1, h, w, dtype=f.dtype, device=f.device), k, dilation=dilation, padding=padding, stride=stride)
        kern = kern * inside
    return kern.view(n, k * k, ho, wo)


def pac_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, kernel: torch.Tensor | None = None,
               *, stride: int = 1, padding: int = 0, dilation: int = 1, normalize: bool = False) -> torch.Tensor:
    """Pixel-adaptive convolution (PAC eq. 3) of ``x`` (N, C, H, W) with ``weight`` (O, C, k, k).

    ``kernel`` is the adaptive kernel ``K`` (N, k*k, H_out, W_out), e.g. from
    :func:`gaussian_adaptive_kernel`; ``None`` means ``K = 1`` (then this is ``F.conv2d``).
    ``normalize=True`` divides ``K`` by its sum over each window (as the paper's normalised PAC).
    Implementation: unfold ``x`` into windows, multiply each window by ``K``, contract with ``W``.
    """
    check_tensor(x, "x", ndim=4)
    check_tensor(weight, "weight", ndim=4)
    o, c, kh, kw = weight.shape
    if c != x.shape[1]:
        raise ValueError(f"pac_conv2d: weight expects {c} input channels, x has {x.shape[1]}")
    if kh != kw:
        raise ValueError(f"pac_conv2d: expected a square kernel, got {kh}x{kw}")
    n = x.shape[0]
    cols, ho, wo = _windows(x, kh, stride, padding, dilation, "pac_conv2d")
    if kernel is None:
        if normalize:
            raise ValueError("pac_conv2d: normalize=True needs an adaptive kernel (K = 1 would just divide by the window size)")
    else:
        check_tensor(kernel, "kernel", ndim=4)
        if tuple(kernel.shape) != (n, kh * kh, ho, wo):
            raise ValueError(f"pac_conv2d: kernel must have shape {(n, kh * kh, ho, wo)}, got {tuple(kernel.shape)}")
        kern = kernel.reshape(n, 1, kh * kh, ho * wo)
        if normalize:
            kern = kern / kern.sum(2, keepdim=True).clamp_min(1e-12)
        cols = cols * kern
    out = torch.einsum("ock,nckl->nol", weight.reshape(o, c, kh * kh), cols).reshape(n, o, ho, wo)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class PacConv2d(nn.Module):
    """A PAC layer with learned ``W`` and ``b``; ``forward(x, f)`` uses the Gaussian kernel on guide features ``f``.

    ``f`` must have the same height and width as ``x`` (stride 1, 'same' padding). Taught in chapters/pac.md.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, normalize: bool = False, bias: bool = True, dilation: int = 1):
        super().__init__()
        check_positive(in_channels, "in_channels", integer=True)
        check_positive(out_channels, "out_channels", integer=True)
        k = _pair_int(kernel_size, "kernel_size")
        if k % 2 == 0:
            raise ValueError(f"PacConv2d: kernel_size must be odd, got {k}")
        conv = nn.Conv2d(in_channels, out_channels, k, bias=bias)  # borrow PyTorch's initialisation
        self.weight = conv.weight
        self.bias = conv.bias
        self.k, self.dilation, self.normalize = k, _pair_int(dilation, "dilation"), normalize

    def forward(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        check_tensor(f, "f", ndim=4)
        check_tensor(x, "x", ndim=4, channels=self.weight.shape[1])
        if f.shape[-2:] != x.shape[-2:] or f.shape[0] != x.shape[0]:
            raise ValueError(f"PacConv2d: f must match x in batch and size, got {tuple(f.shape)} and {tuple(x.shape)}")
        pad = self.dilation * (self.k // 2)
        kern = gaussian_adaptive_kernel(f, self.k, padding=pad, dilation=self.dilation)
        return pac_conv2d(x, self.weight, self.bias, kern, padding=pad, dilation=self.dilation, normalize=self.normalize)


def position_colour_features(image: torch.Tensor, sigma_spatial: float, sigma_colour: float) -> torch.Tensor:
    """Adaptive features ``f = (x / sigma_s, y / sigma_s, colour / sigma_c)`` (pixels and [0, 1] units).

    With these, the Gaussian adaptive kernel is a bilateral weight
    ``exp(-|p_i - p_j|^2 / (2 sigma_s^2) - |I_i - I_j|^2 / (2 sigma_c^2))``.
    """
    check_tensor(image, "image", ndim=4)
    check_positive(sigma_spatial, "sigma_spatial")
    check_positive(sigma_colour, "sigma_colour")
    n, _, h, w = image.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=image.dtype), torch.arange(w, dtype=image.dtype), indexing="ij")
    pos = torch.stack([xx, yy]).to(image.device).expand(n, 2, h, w) / sigma_spatial
    return torch.cat([pos, image / sigma_colour], 1)


def joint_bilateral_upsample(low: torch.Tensor, guide: torch.Tensor, *, sigma_spatial: float, sigma_colour: float, kernel_size: int | None = None) -> torch.Tensor:
    """Joint bilateral upsampling (Kopf et al. 2007) as a normalised, transposed PAC with ``W = 1`` (Su et al. 2019, Sec. 3).

    ``low`` (N, C, h, w) is upsampled by the integer factor ``s = H / h`` to the guide's size
    (N, G, H, W). Low-resolution sample ``(u, v)`` is the mean of the ``s x s`` block it summarises, so it
    sits at the block's centre, ``(s u + (s - 1) / 2, s v + (s - 1) / 2)`` in output pixels (3.5 for
    ``s = 8``: between pixels, not on pixel ``s // 2``), and its guide colour is the block's mean colour.
    Every output pixel ``p`` is the average of the samples ``q`` whose centres lie in the
    ``kernel_size x kernel_size`` window around it (``|p - q| <= kernel_size / 2`` on each axis), weighted by
    ``exp(-|p - q|^2 / (2 sigma_spatial^2) - |guide(p) - guide(q)|^2 / (2 sigma_colour^2))``; samples
    outside the image get weight 0. ``kernel_size`` (odd, pixels) defaults to ``2 * ceil(2 sigma_spatial) + 1``
    and must be at least ``s`` so that every window holds a sample. With ``s = 1`` this is the bilateral
    filter of ``low`` guided by ``guide``. Used in chapters/pac.md.
    """
    check_tensor(low, "low", ndim=4)
    check_tensor(guide, "guide", ndim=4)
    if guide.shape[0] != low.shape[0]:
        raise ValueError(f"joint_bilateral_upsample: low and guide need the same batch size, got {low.shape[0]} and {guide.shape[0]}")
    check_positive(sigma_spatial, "sigma_spatial")
    check_positive(sigma_colour, "sigma_colour")
    (h, w), (hh, ww) = low.shape[-2:], guide.shape[-2:]
    if hh % h or ww % w or hh // h != ww // w:
        raise ValueError(f"joint_bilateral_upsample: the guide's size {hh}x{ww} must be the same integer multiple of low's {h}x{w}")
    s = hh // h
    k = kernel_size if kernel_size is not None else 2 * math.ceil(2.0 * sigma_spatial) + 1
    k = _pair_int(k, "kernel_size")
    if k % 2 == 0 or k < s:
        raise ValueError(f"joint_bilateral_upsample: kernel_size must be odd and at least the factor {s}, got {k}")
    n, c = low.shape[:2]
    half = k / 2
    r = math.ceil((half + (s - 1) / 2) / s)  # low-resolution neighbours that can fall in a window
    taps = 2 * r + 1
    # offsets (in output pixels) from pixel p = s*cy + oy to the centre of sample cy + dy, per axis: (taps, s)
    d = torch.arange(-r, r + 1, dtype=low.dtype, device=low.device)[:, None] * s + (s - 1) / 2 - torch.arange(s, dtype=low.dtype, device=low.device)[None, :]
    d_in = (d.abs() <= half).to(low.dtype)
    g1 = torch.exp(-0.5 * (d / sigma_spatial) ** 2) * d_in                      # (taps, s)
    spatial = (g1[:, None, :, None] * g1[None, :, None, :]).reshape(taps * taps, s, s)
    spatial = spatial.repeat(1, h, w)                                           # (taps^2, H, W)

    def tiles(t):  # (N, C, h, w) -> every pixel's taps^2 low-resolution neighbours: (N, C, taps^2, H, W)
        cols = F.unfold(t, taps, padding=r).view(t.shape[0], t.shape[1], taps * taps, h, w)
        return cols.repeat_interleave(s, -2).repeat_interleave(s, -1)

    inside = tiles(torch.ones(1, 1, h, w, dtype=low.dtype, device=low.device))[:, 0]
    g_low = tiles(F.avg_pool2d(guide, s))                                       # block-mean guide colour per sample
    rng = torch.exp(-0.5 * ((g_low - guide[:, :, None]) ** 2).sum(1) / sigma_colour**2)   # (N, taps^2, H, W)
    weight = rng * spatial * inside
    return (tiles(low) * weight[:, None]).sum(2) / weight.sum(1, keepdim=True).clamp_min(1e-12)
