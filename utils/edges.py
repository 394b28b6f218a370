"""Sobel gradients, gradient magnitude and the edge loss of EP-GAN (Yu et al., ICME 2018). Taught in chapters/ep_gan.md.

``G_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` (correlation, positive for intensity rising to the
right), ``G_y = G_x^T`` (positive for intensity rising downwards), magnitude ``S = sqrt(G_x^2 + G_y^2)``.
Borders are replicated. The torch and numpy versions give the same numbers (tested).
The edge loss ``mean (S(output) - S(target))^2`` is this book's reading of the paper's edge-fidelity
term: the paper does not publish its exact form (an assumption the chapter states).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .checks import as_image, check_choice, check_positive, check_tensor

__all__ = ["SOBEL_X", "SOBEL_Y", "SOBEL_MAX", "sobel", "sobel_magnitude", "sobel_np", "sobel_magnitude_np", "edge_loss", "EdgeEnhancer"]

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T.copy()


def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel gradients ``(G_x, G_y)`` of every channel of ``x`` (N, C, H, W), replicate borders, same size."""
    check_tensor(x, "x", ndim=4)
    c = x.shape[1]
    k = torch.tensor(np.stack([SOBEL_X, SOBEL_Y]), dtype=x.dtype, device=x.device)[:, None]  # (2, 1, 3, 3)
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate").reshape(-1, 1, x.shape[2] + 2, x.shape[3] + 2)
    g = F.conv2d(xp, k).reshape(x.shape[0], c, 2, x.shape[2], x.shape[3])
    return g[:, :, 0], g[:, :, 1]


def sobel_magnitude(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Sobel gradient magnitude ``sqrt(G_x^2 + G_y^2 + eps)``; ``eps`` keeps the gradient finite on flat areas."""
    check_positive(eps, "eps", allow_zero=True)
    gx, gy = sobel(x)
    return torch.sqrt(gx * gx + gy * gy + eps)


def sobel_np(image) -> tuple[np.ndarray, np.ndarray]:
    """numpy Sobel gradients ``(G_x, G_y)`` of an (H, W) or (H, W, C) image, replicate borders."""
    im = as_image(image, "image", value_range=None)
    pad = ((1, 1), (1, 1)) + (((0, 0),) if im.ndim == 3 else ())
    p = np.pad(im, pad, mode="edge")
    h, w = im.shape[:2]
    gx = np.zeros_like(im)
    gy = np.zeros_like(im)
    for dy in range(3):
        for dx in range(3):
            win = p[dy : dy + h, dx : dx + w]
            gx += SOBEL_X[dy, dx] * win
            gy += SOBEL_Y[dy, dx] * win
    return gx, gy


def sobel_magnitude_np(image, eps: float = 0.0) -> np.ndarray:
    """numpy Sobel magnitude ``sqrt(G_x^2 + G_y^2 + eps)`` of an (H, W) or (H, W, C) image."""
    check_positive(eps, "eps", allow_zero=True)
    gx, gy = sobel_np(image)
    return np.sqrt(gx * gx + gy * gy + eps)


def edge_loss(output: torch.Tensor, target: torch.Tensor, kind: str = "l2", eps: float = 1e-6) -> torch.Tensor:
    """Edge-fidelity loss: mean ``(S(output) - S(target))^2`` (``kind='l2'``) or ``|...|`` (``'l1'``), S = Sobel magnitude."""
    check_tensor(output, "output", ndim=4)
    check_tensor(target, "target", ndim=4)
    if output.shape != target.shape:
        raise ValueError(f"edge_loss: output and target must have the same shape, got {tuple(output.shape)} and {tuple(target.shape)}")
    check_choice(kind, "kind", ("l1", "l2"))
    d = sobel_magnitude(output, eps) - sobel_magnitude(target, eps)
    return (d * d).mean() if kind == "l2" else d.abs().mean()


# ---------------------------------------------------------------- the EP-GAN chapter's enhancer
#: the largest Sobel magnitude an image in [0, 1] can have (|G_x| <= 4 and |G_y| <= 4)
SOBEL_MAX = 4.0 * np.sqrt(2.0)


class EdgeEnhancer(torch.nn.Module):
    """The EP-GAN chapter's small residual JPEG enhancer (chapters/ep_gan.md), optionally with an edge branch.

    ``front`` (two 3x3 convs + ReLU) -> ``back`` (three 3x3 convs) -> output added to the input. With
    ``edge_branch=True`` a head after ``front`` (three 3x3 convolutions with ReLU, reading the features and the input) predicts the Sobel magnitude of the *clean* image,
    ``E = S(x) + head(h)``: a correction of the input's own edge map, with the head's last convolution initialised to zero so
    that the untrained branch predicts ``S(x)`` (the edge map of the JPEG input) rather than an arbitrary
    map. The prediction, divided by :data:`SOBEL_MAX`, is concatenated to the features (the note's
    "fused into the features"). ``last_edges`` keeps ``E`` of the last call for the edge-prediction loss.
    The head reads the trunk's features through ``detach()`` and the rest of the network reads its
    prediction through ``detach()``: the edge-prediction loss alone trains the head, and it cannot pull
    the shared layers away from removing artifacts (the pixel loss trains the trunk and the back).
    """

    def __init__(self, channels: int = 24, edge_branch: bool = False, in_channels: int = 1):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        check_positive(in_channels, "in_channels", integer=True)
        conv = lambda i, o: torch.nn.Conv2d(i, o, 3, padding=1)  # noqa: E731
        self.edge_branch, self.in_channels = bool(edge_branch), in_channels
        self.front = torch.nn.Sequential(conv(in_channels, channels), torch.nn.ReLU(), conv(channels, channels), torch.nn.ReLU())
        self.edge_head = None
        if self.edge_branch:
            # three 3x3 convolutions on the trunk's features and the JPEG itself: with one convolution on the
            # features alone, the head saw too little (7x7 pixels) to correct the JPEG's edge map at all
            # (RMSE ratio 1.01 against the JPEG's own Sobel map)
            self.edge_head = torch.nn.Sequential(conv(channels + in_channels, channels), torch.nn.ReLU(), conv(channels, channels), torch.nn.ReLU(),
                                                 conv(channels, in_channels))
            torch.nn.init.zeros_(self.edge_head[-1].weight)
            torch.nn.init.zeros_(self.edge_head[-1].bias)
        extra = in_channels if self.edge_branch else 0
        self.back = torch.nn.Sequential(conv(channels + extra, channels), torch.nn.ReLU(), conv(channels, channels),
                                        torch.nn.ReLU(), conv(channels, in_channels))
        self.last_edges = None

    def forward(self, x):
        check_tensor(x, "EdgeEnhancer input", ndim=4, channels=self.in_channels)
        h = self.front(x)
        if self.edge_branch:
            self.last_edges = sobel_magnitude(x) + self.edge_head(torch.cat([h.detach(), x], 1))
            h = torch.cat([h, self.last_edges.detach() / SOBEL_MAX], 1)
        return x + self.back(h)
