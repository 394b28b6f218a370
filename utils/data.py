"""Offline images: every picture the book uses ships inside an installed package.

Nothing here touches the network. Photos come from scikit-image, scikit-learn and
matplotlib; faces from scikit-image's ``lfw_subset``; digits from scikit-learn.
All images are returned as float64 arrays in [0, 1]; colour images are (H, W, 3).
"""
from __future__ import annotations

import functools

import numpy as np

from .checks import as_image, check_positive

__all__ = ["IMAGE_NAMES", "PHOTO_NAMES", "TEXTURE_NAMES", "load_image", "random_crops", "patch_set", "load_faces", "load_digits"]

# name -> (loader, description). Loaders return uint8 (or float) arrays.
_COLOUR = {
    "astronaut": ("skimage", "astronaut", "Eileen Collins, 512x512"),
    "chelsea": ("skimage", "chelsea", "a cat, 300x451"),
    "coffee": ("skimage", "coffee", "a cup of coffee, 400x600"),
    "rocket": ("skimage", "rocket", "a rocket on its pad, 427x640"),
    "hubble": ("skimage", "hubble_deep_field", "Hubble deep field, 872x1000"),
    "ihc": ("skimage", "immunohistochemistry", "stained tissue, 512x512"),
    "china": ("sklearn", 0, "a temple, 427x640"),
    "flower": ("sklearn", 1, "a flower, 427x640"),
    "grace_hopper": ("matplotlib", "grace_hopper.jpg", "portrait of Grace Hopper, 600x512"),
}
_GRAY = {
    "camera": ("skimage", "camera", "cameraman, 512x512, grey"),
    "moon": ("skimage", "moon", "lunar surface, 512x512, grey"),
    "brick": ("skimage", "brick", "brick texture, 512x512, grey"),
    "grass": ("skimage", "grass", "grass texture, 512x512, grey"),
    "gravel": ("skimage", "gravel", "gravel texture, 512x512, grey"),
    "coins": ("skimage", "coins", "coins, 303x384, grey"),
    "clock": ("skimage", "clock", "a clock, 300x400, grey"),
    "text": ("skimage", "text", "text on a page, 172x448, grey"),
}
IMAGE_NAMES: tuple[str, ...] = tuple(_COLOUR) + tuple(_GRAY)
#: colour photographs, the default pool for training and testing image models
PHOTO_NAMES: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket", "china", "flower", "grace_hopper", "ihc", "hubble")
#: grey textures
TEXTURE_NAMES: tuple[str, ...] = ("brick", "grass", "gravel", "moon")


@functools.lru_cache(maxsize=None)
def _load_raw(name: str) -> np.ndarray:
    source, key, _ = {**_COLOUR, **_GRAY}[name]
    if source == "skimage":
        import skimage.data

        arr = getattr(skimage.data, key)()
    elif source == "sklearn":
        from sklearn.datasets import load_sample_images

        arr = load_sample_images().images[key]
    else:
        from matplotlib import cbook
        from PIL import Image

        with cbook.get_sample_data(key) as f:
            arr = np.asarray(Image.open(f).convert("RGB"))
    arr = np.asarray(arr)
    arr.setflags(write=False)
    return arr


def load_image(name: str, *, gray: bool | None = None, size: int | None = None) -> np.ndarray:
    """Return the packaged image ``name`` as float64 in [0, 1].

    ``gray=True`` converts colour to luminance (ITU-R BT.601 weights), ``gray=False`` repeats a
    grey image into three channels, ``None`` keeps the image as it is. ``size`` centre-crops a
    square of that side (the image must be large enough). Names: ``utils.data.IMAGE_NAMES``.
    """
    if not isinstance(name, str) or name not in IMAGE_NAMES:
        raise ValueError(f"load_image: unknown image {name!r}; expected one of {', '.join(IMAGE_NAMES)}")
    img = _load_raw(name).astype(np.float64) / 255.0
    if gray is True and img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114])
    elif gray is False and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if size is not None:
        check_positive(size, "size", integer=True)
        h, w = img.shape[:2]
        if size > min(h, w):
            raise ValueError(f"load_image: size {size} is larger than image {name!r} ({h}x{w})")
        top, left = (h - size) // 2, (w - size) // 2
        img = img[top : top + size, left : left + size]
    return np.ascontiguousarray(img)


def random_crops(image: np.ndarray, n: int, size: int, *, seed: int = 0) -> np.ndarray:
    """Return ``n`` random ``size`` x ``size`` crops of ``image`` as an array (n, size, size[, C]).

    The crops are drawn with ``numpy.random.default_rng(seed)``, so the same seed gives the same crops.
    """
    image = as_image(image, "image")
    check_positive(n, "n", integer=True)
    check_positive(size, "size", integer=True)
    h, w = image.shape[:2]
    if size > h or size > w:
        raise ValueError(f"random_crops: crop size {size} does not fit in an image of {h}x{w}")
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, h - size + 1, n)
    xs = rng.integers(0, w - size + 1, n)
    return np.stack([image[y : y + size, x : x + size] for y, x in zip(ys, xs)])


def patch_set(names, n_per_image: int, size: int, *, seed: int = 0, gray: bool | None = False) -> tuple[np.ndarray, np.ndarray]:
    """Seeded patches from several packaged images.

    Returns ``(patches, labels)``: patches (N, size, size, 3) float in [0, 1] (grey images are
    repeated to 3 channels unless ``gray`` says otherwise) and labels (N,) giving the index of the
    source image in ``names``.
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("patch_set: expected at least one image name")
    out, labels = [], []
    for i, name in enumerate(names):
        img = load_image(name, gray=gray)
        out.append(random_crops(img, n_per_image, size, seed=seed + 7919 * i))
        labels.append(np.full(n_per_image, i))
    return np.concatenate(out), np.concatenate(labels)


def load_faces() -> np.ndarray:
    """The 200 grey 25x25 faces of scikit-image's ``lfw_subset`` as float64 in [0, 1], shape (200, 25, 25).

    The first 100 are faces and the last 100 non-faces in scikit-image's data set; this returns
    only the 100 faces.
    """
    import skimage.data

    faces = np.asarray(skimage.data.lfw_subset(), dtype=np.float64)[:100]
    return np.clip(faces, 0.0, 1.0)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits as (images (N, 8, 8) in [0, 1], labels (N,))."""
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    return d.images.astype(np.float64) / 16.0, d.target.astype(np.int64)


def shared_reference_dir(*parts: str):
    """Path of the project's shared reference data (``../shared`` beside the repository), or ``None``.

    Looks at the environment variable ``PAPER_DAILY_SHARED`` first, then for a ``shared`` folder beside
    the book's checkout (found from the current directory). Chapters must still run without it (Colab).
    """
    import os
    from pathlib import Path

    env = os.environ.get("PAPER_DAILY_SHARED")
    candidates = [Path(env)] if env else []
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "utils" / "__init__.py").is_file() and (p / "_toc.yml").is_file():
            candidates.append(p.parent / "shared")
            break
    for c in candidates:
        target = c.joinpath(*parts)
        if target.exists():
            return target
    return None
