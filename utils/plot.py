"""Plotting helpers: one style for the whole book, opaque backgrounds, labelled image grids."""
from __future__ import annotations

import numpy as np

__all__ = ["use_book_style", "show_images", "BOOK_COLORS"]

#: colour cycle used by every chapter (colour-blind safe, Okabe-Ito)
BOOK_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def use_book_style() -> None:
    """Set matplotlib's style for the book: opaque white figures, readable fonts, the book's colours."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
            "savefig.transparent": False,
            "figure.dpi": 100,
            "font.size": 10,
            "axes.titlesize": 10,
            "axes.labelsize": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": mpl.cycler(color=BOOK_COLORS),
            "image.cmap": "viridis",
            "figure.constrained_layout.use": True,
        }
    )


def show_images(images, titles=None, *, ncols: int | None = None, size: float = 2.2, cmap: str = "gray", suptitle: str | None = None, vmin=0.0, vmax=1.0):
    """Show a list of images (numpy (H, W[, 3]) in [0, 1], or tensors) in a grid; returns the figure.

    Axes are hidden for pictures (they have no units); ``titles`` label each panel.
    """
    import matplotlib.pyplot as plt

    from .convert import to_numpy

    imgs = []
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray):
            im = to_numpy(im)
            if im.ndim == 4 or (im.ndim == 3 and im.shape[-1] not in (1, 3)):
                im = im[0]
        im = np.asarray(im)
        if im.ndim not in (2, 3):
            raise ValueError(f"show_images: images[{i}] must be (H, W) or (H, W, 3), got shape {im.shape}")
        imgs.append(im)
    if not imgs:
        raise ValueError("show_images: expected at least one image")
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"show_images: got {len(imgs)} images but {len(titles)} titles")
    n = len(imgs)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)), squeeze=False, facecolor="white")
    for ax in axes.ravel():
        ax.axis("off")
    for k, im in enumerate(imgs):
        ax = axes.ravel()[k]
        ax.imshow(np.clip(im, vmin, vmax) if im.ndim == 3 else im, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[k])
    if suptitle:
        fig.suptitle(suptitle)
    return fig
