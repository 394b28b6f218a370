"""Synthetic scenes made on the fly: label maps with instances, and textured images painted from them.

Used by the translation and synthesis chapters (SPADE, pix2pix, pix2pixHD, PAC). Everything is
seeded and offline.
"""
from __future__ import annotations

import numpy as np

from .checks import check_positive

__all__ = ["voronoi_label_maps", "uniform_label_maps", "two_region_maps", "paint_classes", "one_hot", "CLASS_COLOURS",
           "instance_boundaries", "touching_object_scenes", "paint_instances"]

#: mean colour of each class's texture (RGB in [0, 1]); up to 8 classes
CLASS_COLOURS = np.array(
    [
        [0.15, 0.35, 0.80],  # 0 blue, horizontal stripes
        [0.20, 0.65, 0.25],  # 1 green, dots
        [0.80, 0.25, 0.20],  # 2 red, checkerboard
        [0.90, 0.80, 0.25],  # 3 yellow, fine noise
        [0.55, 0.55, 0.55],  # 4 grey, diagonal stripes
        [0.55, 0.30, 0.65],  # 5 purple, vertical stripes
        [0.35, 0.75, 0.80],  # 6 cyan, smooth
        [0.85, 0.55, 0.30],  # 7 orange, coarse noise
    ]
)


def voronoi_label_maps(n: int, size: int, n_classes: int, *, n_regions: tuple[int, int] = (3, 7), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random Voronoi scenes: ``n`` maps of ``size`` x ``size`` with 3-7 regions each.

    Returns ``(labels, instances)``, both int64 (n, size, size): the class of each pixel and the
    id of the region (instance) it belongs to. Neighbouring regions may share a class, so two
    touching instances of the same class merge in ``labels`` but not in ``instances``.
    """
    check_positive(n, "n", integer=True)
    check_positive(size, "size", integer=True)
    check_positive(n_classes, "n_classes", integer=True)
    if not 1 <= n_classes <= len(CLASS_COLOURS):
        raise ValueError(f"voronoi_label_maps: n_classes must be in 1..{len(CLASS_COLOURS)}, got {n_classes}")
    lo, hi = n_regions
    if not (1 <= lo <= hi):
        raise ValueError(f"voronoi_label_maps: n_regions must be (low, high) with 1 <= low <= high, got {n_regions}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    labels = np.empty((n, size, size), np.int64)
    inst = np.empty((n, size, size), np.int64)
    for i in range(n):
        k = int(rng.integers(lo, hi + 1))
        centres = rng.uniform(0, size, (k, 2))
        d = (yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2
        region = d.argmin(0)
        cls = rng.integers(0, n_classes, k)
        inst[i] = region
        labels[i] = cls[region]
    return labels, inst


def uniform_label_maps(n_classes: int, size: int) -> np.ndarray:
    """One map per class, every pixel of map ``c`` labelled ``c``: int64 (n_classes, size, size)."""
    check_positive(n_classes, "n_classes", integer=True)
    check_positive(size, "size", integer=True)
    return np.broadcast_to(np.arange(n_classes)[:, None, None], (n_classes, size, size)).copy()


def two_region_maps(n: int, size: int, n_classes: int, side: int, *, seed: int = 0) -> np.ndarray:
    """``n`` maps of a ``side`` x ``side`` square of one class on a background of another, distinct class.

    The square's position is uniform over the map and the ordered class pair (background, square) is uniform
    over the pairs of distinct classes. Returns int64 (n, size, size). Used by chapters/spade.md to sweep the
    size of a uniform region.
    """
    check_positive(n, "n", integer=True)
    check_positive(size, "size", integer=True)
    check_positive(side, "side", integer=True)
    check_positive(n_classes, "n_classes", integer=True)
    if n_classes < 2:
        raise ValueError(f"two_region_maps: need at least 2 classes for two distinct regions, got {n_classes}")
    if side >= size:
        raise ValueError(f"two_region_maps: side must be smaller than size ({size}) so that both regions exist, got {side}")
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size), np.int64)
    for i in range(n):
        a = int(rng.integers(n_classes))
        b = int((a + rng.integers(1, n_classes)) % n_classes)
        y, x = rng.integers(0, size - side + 1, 2)
        out[i] = a
        out[i, y : y + side, x : x + side] = b
    return out


def _texture(c: int, shape, rng) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    oy, ox = rng.integers(0, 8, 2)  # random phase per image: texture is not tied to position
    y, x = yy + oy, xx + ox
    kind = c % 8
    if kind == 0:
        t = np.sign(np.sin(2 * np.pi * y / 6))
    elif kind == 1:
        t = ((y % 6 < 2) & (x % 6 < 2)) * 2.0 - 1
    elif kind == 2:
        t = ((y // 4 + x // 4) % 2) * 2.0 - 1
    elif kind == 3:
        t = rng.uniform(-1, 1, (h, w))
    elif kind == 4:
        t = np.sign(np.sin(2 * np.pi * (x + y) / 8))
    elif kind == 5:
        t = np.sign(np.sin(2 * np.pi * x / 6))
    elif kind == 6:
        t = np.zeros((h, w))
    else:
        t = np.kron(rng.uniform(-1, 1, (h // 4 + 1, w // 4 + 1)), np.ones((4, 4)))[:h, :w]
    return t


def paint_classes(labels: np.ndarray, *, amplitude: float = 0.12, seed: int = 0) -> np.ndarray:
    """Paint label maps (n, H, W) as RGB images (n, H, W, 3) in [0, 1]: class colour plus its texture.

    Each class ``c`` gets ``CLASS_COLOURS[c]`` plus ``amplitude`` times a class-specific pattern
    (stripes, dots, checks, noise...) with a random phase per image.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"paint_classes: expected integer label maps (n, H, W), got {labels.dtype} array of shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= len(CLASS_COLOURS):
        raise ValueError(f"paint_classes: labels must be in 0..{len(CLASS_COLOURS) - 1}, got {labels.min()}..{labels.max()}")
    check_positive(amplitude, "amplitude", allow_zero=True)
    rng = np.random.default_rng(seed)
    n, h, w = labels.shape
    out = np.empty((n, h, w, 3))
    for i in range(n):
        img = np.zeros((h, w, 3))
        for c in np.unique(labels[i]):
            m = labels[i] == c
            img[m] = CLASS_COLOURS[c] + amplitude * _texture(int(c), (h, w), rng)[m][:, None]
        out[i] = img
    return np.clip(out, 0.0, 1.0)


def one_hot(labels, n_classes: int):
    """Integer label maps (n, H, W) -> float32 tensor (n, n_classes, H, W) of one-hot planes."""
    import torch

    t = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if t.ndim != 3:
        raise ValueError(f"one_hot: expected label maps (n, H, W), got shape {tuple(t.shape)}")
    if t.min() < 0 or t.max() >= n_classes:
        raise ValueError(f"one_hot: labels must be in 0..{n_classes - 1}, got {int(t.min())}..{int(t.max())}")
    return torch.nn.functional.one_hot(t, n_classes).permute(0, 3, 1, 2).float()


# --- added for the pix2pix, pix2pixHD and HiFaceGAN chapters --------------------------------------------------


def instance_boundaries(instances) -> np.ndarray:
    """pix2pixHD's instance boundary map (Wang et al., CVPR 2018, Sec. 3.3). Taught in chapters/pix2pixhd.md.

    ``instances``: integer ids (H, W) or (n, H, W). A pixel is 1 when its id differs from that of any of its
    4-neighbours (up, down, left, right), else 0; pixels on the image border compare only with the
    neighbours that exist. Both sides of a boundary are marked, as in the official ``get_edges``.
    Returns float32 of the same shape.
    """
    a = np.asarray(instances)
    if a.ndim not in (2, 3) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"instance_boundaries: expected integer instance ids (H, W) or (n, H, W), got {a.dtype} array of shape {a.shape}")
    e = np.zeros(a.shape, dtype=bool)
    dv = a[..., 1:, :] != a[..., :-1, :]
    dh = a[..., :, 1:] != a[..., :, :-1]
    e[..., 1:, :] |= dv
    e[..., :-1, :] |= dv
    e[..., :, 1:] |= dh
    e[..., :, :-1] |= dh
    return e.astype(np.float32)


def touching_object_scenes(
    n: int, size: int, *, n_rows: tuple[int, int] = (1, 2), per_row: tuple[int, int] = (2, 4), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Scenes of rectangular objects that touch other objects *of the same class* (rows of parked cars).

    Background is class 0 (instance 0). Each scene has ``n_rows`` rows (a range, inclusive), each of
    ``per_row`` abutting rectangles of one class (1 or 2) that share their vertical edges, so in the label
    map the objects of a row merge into one blob while ``instances`` keeps them apart. Returns
    ``(labels, instances)``, int64 (n, size, size). Used by chapters/pix2pixhd.md.
    """
    check_positive(n, "n", integer=True)
    check_positive(size, "size", integer=True)
    if size < 16:
        raise ValueError(f"touching_object_scenes: size must be at least 16 pixels, got {size}")
    for name, (lo, hi) in (("n_rows", n_rows), ("per_row", per_row)):
        if not (isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer)) and 1 <= lo <= hi):
            raise ValueError(f"touching_object_scenes: {name} must be (low, high) with 1 <= low <= high, got {(lo, hi)}")
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, size, size), np.int64)
    inst = np.zeros((n, size, size), np.int64)
    band = size // max(n_rows[1], 1)
    for i in range(n):
        rows = int(rng.integers(n_rows[0], n_rows[1] + 1))
        next_id = 1
        for r in range(rows):
            h = int(rng.integers(max(4, band // 2), max(5, band - 1)))
            y0 = r * band + int(rng.integers(0, max(1, band - h)))
            k = int(rng.integers(per_row[0], per_row[1] + 1))
            widths = rng.integers(max(4, size // 8), max(5, size // 4) + 1, k)
            while widths.sum() > size - 2 and len(widths) > 1:
                widths = widths[:-1]
            x = int(rng.integers(0, size - int(widths.sum()) + 1))
            cls = int(rng.integers(1, 3))
            for w in widths:
                labels[i, y0 : y0 + h, x : x + w] = cls
                inst[i, y0 : y0 + h, x : x + w] = next_id
                next_id += 1
                x += int(w)
    return labels, inst


def paint_instances(labels, instances, *, brightness: tuple[float, float] = (0.7, 1.1), outline: float = 0.35, seed: int = 0) -> np.ndarray:
    """Paint scenes where every object instance is visible: RGB (n, H, W, 3) in [0, 1].

    Each instance gets its class colour (``CLASS_COLOURS``) times a random brightness drawn from
    ``brightness``; pixels of :func:`instance_boundaries` are multiplied by ``outline`` (a dark contour), so
    that two touching objects of the same class are separated in the image, as in a photograph.
    """
    labels, instances = np.asarray(labels), np.asarray(instances)
    if labels.shape != instances.shape or labels.ndim != 3:
        raise ValueError(f"paint_instances: labels and instances must both be (n, H, W), got {labels.shape} and {instances.shape}")
    if labels.min() < 0 or labels.max() >= len(CLASS_COLOURS):
        raise ValueError(f"paint_instances: labels must be in 0..{len(CLASS_COLOURS) - 1}, got {labels.min()}..{labels.max()}")
    lo, hi = brightness
    if not (0 < lo <= hi):
        raise ValueError(f"paint_instances: brightness must be (low, high) with 0 < low <= high, got {brightness}")
    check_positive(outline, "outline", allow_zero=True)
    rng = np.random.default_rng(seed)
    edges = instance_boundaries(instances)
    out = np.empty(labels.shape + (3,))
    for i in range(len(labels)):
        ids = np.unique(instances[i])
        gain = dict(zip(ids.tolist(), rng.uniform(lo, hi, len(ids))))
        g = np.vectorize(gain.get)(instances[i])
        out[i] = CLASS_COLOURS[labels[i]] * g[..., None]
    out *= np.where(edges[..., None] > 0, outline, 1.0)
    return np.clip(out, 0.0, 1.0)
