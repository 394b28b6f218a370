"""The contextual similarity and contextual loss (Mechrez, Talmi & Zelnik-Manor, ECCV 2018).

Taught in chapters/contextual_loss.md. Two images are compared as *sets* of feature vectors, one
per position of a feature map, with no regard to where each vector sits: for every target feature
we ask whether some generated feature is its clear nearest neighbour. The steps (the paper's
eq. (1)-(5); defaults as in the PyTorch ports of the official TensorFlow code):

1. centre both sets by the mean of the *target* features (per channel, per sample);
2. L2-normalise each feature vector; cosine distance ``d_ij = 1 - cos(x_i, y_j)``;
3. relative distance ``d~_ij = d_ij / (min_k d_ik + eps)``, ``eps = 1e-5`` (eq. 2);
4. similarity ``w_ij = exp((1 - d~_ij) / h)`` with bandwidth ``h = 0.5`` (eq. 3);
5. row normalisation ``CX_ij = w_ij / sum_k w_ik`` (eq. 4);
6. ``CX(X, Y) = mean_j max_i CX_ij`` and the loss ``-log CX`` (eq. 1 and 5).

``i`` runs over the generated features X, ``j`` and ``k`` over the target features Y.
"""
from __future__ import annotations

import torch

from .checks import check_positive, check_tensor

__all__ = ["contextual_affinity", "contextual_similarity", "contextual_loss", "CX_EPS", "CX_BANDWIDTH"]

#: the epsilon of the relative normalisation (eq. 2)
CX_EPS = 1e-5
#: the default bandwidth h (eq. 3): 0.5, as in the TF config and the PyTorch ports
CX_BANDWIDTH = 0.5


def _as_sets(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two feature maps and return them as (N, C, P) sets of P feature vectors each."""
    for t, name in ((x, "x"), (y, "y")):
        check_tensor(t, name)
        if t.ndim not in (3, 4):
            raise ValueError(
                f"{name}: expected features (N, C, H, W) or a set of vectors (N, C, P), got shape {tuple(t.shape)}"
            )
    if x.ndim != y.ndim or x.shape[:2] != y.shape[:2]:
        raise ValueError(
            "x and y: expected the same batch size and number of channels (and the same layout), "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    xs, ys = x.flatten(2), y.flatten(2)
    if xs.shape[2] == 0 or ys.shape[2] == 0:
        raise ValueError(f"x and y: expected at least one position each, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    for t, name in ((xs, "x"), (ys, "y")):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name}: contains NaN or infinite values")
    return xs, ys


def contextual_affinity(x: torch.Tensor, y: torch.Tensor, *, h: float = CX_BANDWIDTH, eps: float = CX_EPS) -> torch.Tensor:
    """The matrix ``CX_ij`` of eq. (4): (N, P_x, P_y), rows (generated feature i) summing to 1.

    ``x`` (generated) and ``y`` (target) are feature maps (N, C, H, W) or sets (N, C, P) with the
    same N and C; their numbers of positions may differ. See the module docstring for the steps.
    """
    check_positive(h, "h")
    check_positive(eps, "eps")
    xs, ys = _as_sets(x, y)
    mu = ys.mean(dim=2, keepdim=True)  # step 1: centre by the target mean
    xs = torch.nn.functional.normalize(xs - mu, dim=1)
    ys = torch.nn.functional.normalize(ys - mu, dim=1)
    d = (1.0 - torch.bmm(xs.transpose(1, 2), ys)).clamp_min(0.0)  # step 2: cosine distance, (N, Px, Py)
    d_rel = d / (d.min(dim=2, keepdim=True).values + eps)  # step 3, eq. (2)
    # step 4 and 5, eq. (3)-(4): a softmax over k of (1 - d~_ik) / h is exactly w_ij / sum_k w_ik,
    # computed without overflow or underflow of exp
    return torch.softmax((1.0 - d_rel) / h, dim=2)


def contextual_similarity(x: torch.Tensor, y: torch.Tensor, *, h: float = CX_BANDWIDTH, eps: float = CX_EPS) -> torch.Tensor:
    """Contextual similarity ``CX(X, Y)`` of eq. (1), one value in [0, 1] per sample, shape (N,).

    ``CX = (1 / P_y) sum_j max_i CX_ij``: each target feature j looks for the generated feature that
    claims it most strongly. ``CX(X, X) = 1`` for distinct features; permuting the positions of
    either map changes nothing. Gradients flow to both inputs. Taught in chapters/contextual_loss.md.
    """
    cx = contextual_affinity(x, y, h=h, eps=eps)
    return cx.max(dim=1).values.mean(dim=1)


def contextual_loss(x: torch.Tensor, y: torch.Tensor, *, h: float = CX_BANDWIDTH, eps: float = CX_EPS) -> torch.Tensor:
    """Contextual loss ``-log CX(X, Y)`` (eq. 5), averaged over the batch; a scalar tensor >= 0.

    ``x``: generated features, ``y``: target features, (N, C, H, W) or (N, C, P). The paper sums
    this loss over VGG19 layers conv3_2 and conv4_2 (the chapter uses the book's feature net).
    """
    return -torch.log(contextual_similarity(x, y, h=h, eps=eps)).mean()
