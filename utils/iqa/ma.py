"""Ma et al.'s no-reference quality score for super-resolved images, and PIRM's perceptual index.

C. Ma, C.-Y. Yang, X. Yang and M.-H. Yang, "Learning a No-Reference Quality Metric for Single-Image
Super-Resolution", Computer Vision and Image Understanding 158, 2017. Taught in chapter
chapters/ma_nrqm.md; the perceptual index of the PIRM 2018 challenge is taught in chapters/pirm.md.

The pipeline (paper Sec. 3-4), computed on one luminance channel at three scales (the image, then
twice: 3x3 Gaussian blur with sigma 0.5 and subsampling by 2):

1. **Local frequency** (paper Sec. 3.1, 18 numbers): 2-D DCT of 7x7 blocks taken every 3 pixels, DC
   dropped. Per block: the shape of a generalised Gaussian fitted to the AC coefficients, the
   coefficient of variation of their magnitudes, and the variance of that across three oriented
   bands of the DCT grid. Each is pooled over blocks by its mean and by the mean of its extreme
   10% (lowest 10% for the shape, highest 10% for the other two): 6 per scale.
2. **Global frequency** (Sec. 3.2, 45 numbers). The paper uses a steerable pyramid (2 scales x 6
   orientations). *Stated substitute:* an oriented band-pass decomposition built directly in the
   Fourier domain with the same layout (two octave bands, raised-cosine in log radius, times six
   angular windows ``|cos(theta - k pi / 6)|^5``), without the pyramid's subsampling. Features: the
   generalised Gaussian shape of each of the 12 bands, the shape again after divisive normalisation
   by the local energy of all orientations of the band's scale (the Gaussian scale mixture step),
   the correlation of magnitudes across scales (6) and between neighbouring orientations (12), and
   three energy ratios.
3. **Spatial** (Sec. 3.3, 75 numbers): singular values of the matrix of non-overlapping 5x5 patches
   (one patch per row), normalised to sum to one, 25 per scale.

Regression (Sec. 4): one random-forest regressor per group, then a linear fusion
``score = w0 + w1 s1 + w2 s2 + w3 s3`` (clipped to 0..10; higher is better).

The shipped model. The authors' forests were trained on human opinion scores of their SR data set
and are not available offline. ``ma_model.npz`` next to this file holds small forests trained by
``scripts/train_ma_model.py`` on a miniature set built from packaged photos super-resolved by
several methods (:func:`ma_dataset`). Its target is a *proxy for human scores*, not computed from
any of the three feature groups: :func:`ma_target`, a full-reference deep-feature distance to the
high-resolution original on the book's perceptual feature network, relative to that of a strong
blur of the same original, mapped to 0..10. The forests
are stored as plain arrays (no pickle) and evaluated by :func:`predict_forest`.
"""
from __future__ import annotations

import functools
import json
import math
import numbers
from pathlib import Path

import numpy as np
import scipy.fft
from scipy.ndimage import convolve1d, gaussian_filter
from scipy.special import gamma as _gamma_fn

from ..checks import as_image, check_choice, check_in_range, check_positive

__all__ = [
    "ma_score",
    "ma_features",
    "perceptual_index",
    "load_ma_model",
    "predict_forest",
    "forest_to_arrays",
    "ma_target",
    "ma_dataset",
    "super_resolve",
    "SR_METHODS",
    "FEATURE_GROUPS",
    "GROUP_SIZES",
    "MODEL_FILE",
]

MODEL_FILE = Path(__file__).resolve().with_name("ma_model.npz")
#: the three feature groups, in the order of the paper
FEATURE_GROUPS = ("dct", "freq", "svd")
GROUP_SIZES = {"dct": 18, "freq": 45, "svd": 75}
#: super-resolution methods of the miniature training set (:func:`super_resolve`)
SR_METHODS = ("nearest", "bilinear", "bicubic", "smoothed", "sharpened", "oversharpened", "noisy", "learned")
_CHANNELS = ("y", "gray")
_RGB2Y = np.array([65.481, 128.553, 24.966])
_RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103]) * 255.0
#: smallest height and width ma_score accepts (three scales of 7x7 blocks need 4 x 7 pixels)
MIN_SIZE = 32

# ---------------------------------------------------------------------------------------------
# Generalised Gaussian shape by moment matching (vectorised lookup)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _ggd_table() -> tuple[np.ndarray, np.ndarray]:
    a = np.arange(0.2, 10.0 + 1e-9, 0.001)
    r = _gamma_fn(2.0 / a) ** 2 / (_gamma_fn(1.0 / a) * _gamma_fn(3.0 / a))  # increasing in a
    return r, a


def _ggd_shape(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Generalised Gaussian shape of the values along ``axis`` (moment ratio E|x|^2 / E x^2, grid 0.2:0.001:10).

    Rows with zero energy give NaN."""
    r, a = _ggd_table()
    m2 = np.mean(x * x, axis=axis)
    m1 = np.mean(np.abs(x), axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = m1 * m1 / m2
    out = np.interp(rho, r, a)
    out[~(m2 > 1e-12)] = np.nan
    return out


def _pool(v: np.ndarray, tail: str) -> tuple[float, float]:
    """Mean of the extreme 10% (``tail`` "low" or "high") and mean, ignoring NaNs (0 if none)."""
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 0.0
    k = max(1, int(math.ceil(0.1 * v.size)))
    s = np.sort(v)
    ext = s[:k] if tail == "low" else s[-k:]
    return float(ext.mean()), float(v.mean())


# ---------------------------------------------------------------------------------------------
# Luminance and scales
# ---------------------------------------------------------------------------------------------


def _luminance(image, channel: str, name: str) -> np.ndarray:
    check_choice(channel, "channel", _CHANNELS)
    img = as_image(image, name, min_size=MIN_SIZE)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return img * 255.0
    if channel == "y":
        return img @ _RGB2Y + 16.0
    return img @ _RGB2GRAY


_G3 = np.exp(-0.5 * (np.arange(-1, 2) / 0.5) ** 2)
_G3 = _G3 / _G3.sum()


def _scales(lum: np.ndarray) -> list[np.ndarray]:
    out = [lum]
    for _ in range(2):
        b = convolve1d(convolve1d(out[-1], _G3, axis=0, mode="nearest"), _G3, axis=1, mode="nearest")
        out.append(b[::2, ::2])
    return out


# ---------------------------------------------------------------------------------------------
# Group 1: local frequency (DCT of 7x7 blocks)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _dct_setup():
    n = 7
    k = np.arange(n)
    d = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    u, v = np.meshgrid(k, k, indexing="ij")
    ang = np.degrees(np.arctan2(u, v)).ravel()[1:]  # 0: horizontal frequencies only, 90: vertical only
    bands = [ang < 30, (ang >= 30) & (ang <= 60), ang > 60]
    return d, bands


def _dct_blocks(im: np.ndarray) -> np.ndarray:
    """AC DCT coefficients (N, 48) of the 7x7 blocks of ``im`` taken every 3 pixels."""
    d, _ = _dct_setup()
    win = np.lib.stride_tricks.sliding_window_view(im, (7, 7))[::3, ::3]
    blocks = win.reshape(-1, 49)
    # D B D^T for every block at once: vec(D B D^T) = (D kron D) vec(B) (row-major vec)
    return (blocks @ np.kron(d, d).T)[:, 1:]


def _dct_features(scales) -> np.ndarray:
    _, bands = _dct_setup()
    feats = []
    for im in scales:
        ac = _dct_blocks(im)
        shape = _ggd_shape(ac)
        mag = np.abs(ac)
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = mag.std(axis=1) / mag.mean(axis=1)
            band_cv = np.stack([mag[:, b].var(axis=1) / mag[:, b].mean(axis=1) ** 2 for b in bands], axis=1)
        band_var = band_cv.var(axis=1)
        flat = np.sqrt(np.mean(ac * ac, axis=1)) < 1e-3  # no AC energy (0..255 scale): statistics undefined
        shape[flat], cv[flat], band_var[flat] = np.nan, np.nan, np.nan
        feats += [*_pool(shape, "low"), *_pool(cv, "high"), *_pool(band_var, "high")]
    return np.asarray(feats)


# ---------------------------------------------------------------------------------------------
# Group 2: global frequency (oriented band-pass decomposition, stand-in for the steerable pyramid)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _oriented_filters(h: int, w: int) -> np.ndarray:
    """Real-FFT-domain filters (2 scales x 6 orientations, h, w // 2 + 1)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    r = np.sqrt(fx * fx + fy * fy)
    theta = np.arctan2(fy, fx)
    with np.errstate(divide="ignore"):
        lr = np.log2(np.where(r > 0, r, 1e-12))
    out = np.empty((2, 6, h, w // 2 + 1), dtype=np.float32)
    for s, centre in enumerate((-2.0, -3.0)):  # octave bands centred on 1/4 and 1/8 cycles per pixel
        t = lr - centre
        radial = np.where(np.abs(t) < 1, np.cos(0.5 * np.pi * t) ** 2, 0.0)
        for k in range(6):
            angular = np.abs(np.cos(theta - k * np.pi / 6)) ** 5
            out[s, k] = radial * angular
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def _freq_features(im: np.ndarray) -> np.ndarray:
    h, w = im.shape
    spec = scipy.fft.rfft2((im - im.mean()).astype(np.float32))
    filt = _oriented_filters(h, w)
    bands = scipy.fft.irfft2(spec[None, None] * filt, s=(h, w), axes=(-2, -1)).astype(np.float64)  # (2, 6, h, w)
    flat = bands.reshape(12, -1)
    shape_raw = _ggd_shape(flat)
    energy = (bands**2).mean(axis=1)  # (2, h, w): local energy over orientations
    local = np.stack([gaussian_filter(e, 1.5, mode="reflect") for e in energy])
    normed = bands / np.sqrt(local[:, None] + 1.0)
    shape_norm = _ggd_shape(normed.reshape(12, -1))
    mag = np.abs(bands)
    cross_scale = [_corr(mag[0, k], mag[1, k]) for k in range(6)]
    cross_orient = [_corr(mag[s, k], mag[s, (k + 1) % 6]) for s in range(2) for k in range(6)]
    band_energy = (bands**2).mean(axis=(2, 3)) + 1e-12  # (2, 6)
    total = (im - im.mean()).var() + 1e-12
    ratios = [
        math.log10(band_energy[0].sum() / band_energy[1].sum()),
        math.log10(band_energy[0].sum() / total),
        math.log10(band_energy.max(axis=1).sum() / band_energy.min(axis=1).sum()),
    ]
    out = np.concatenate([shape_raw, shape_norm, cross_scale, cross_orient, ratios])
    return np.nan_to_num(out, nan=0.0)


# ---------------------------------------------------------------------------------------------
# Group 3: spatial (singular values of 5x5 patches)
# ---------------------------------------------------------------------------------------------


def _svd_features(scales) -> np.ndarray:
    feats = []
    for im in scales:
        h, w = (im.shape[0] // 5) * 5, (im.shape[1] // 5) * 5
        patches = im[:h, :w].reshape(h // 5, 5, w // 5, 5).transpose(0, 2, 1, 3).reshape(-1, 25)
        # singular values of the (N, 25) patch matrix = square roots of the eigenvalues of its Gram matrix
        s = np.sqrt(np.clip(np.linalg.eigvalsh(patches.T @ patches)[::-1], 0.0, None))
        feats.append(s / s.sum() if s.sum() > 0 else np.zeros(25))
    return np.concatenate(feats)


def ma_features(image, *, channel: str = "y") -> dict[str, np.ndarray]:
    """The three feature groups of Ma et al. for ``image``: ``{"dct": (18,), "freq": (45,), "svd": (75,)}``.

    ``image``: float (H, W) or (H, W, 3) in [0, 1], at least 32x32. ``channel``: "y" (BT.601 Y, as
    PIRM scores) or "gray" (MATLAB ``rgb2gray``); a 2-D image is used as it is. See the module
    docstring for each group (paper Sec. 3.1-3.3). Taught in chapter chapters/ma_nrqm.md.
    """
    lum = _luminance(image, channel, "ma_features: image")
    scales = _scales(lum)
    return {"dct": _dct_features(scales), "freq": _freq_features(lum), "svd": _svd_features(scales)}


# ---------------------------------------------------------------------------------------------
# Forests as arrays
# ---------------------------------------------------------------------------------------------


def forest_to_arrays(forest) -> dict[str, np.ndarray]:
    """Flatten a fitted scikit-learn ``RandomForestRegressor`` into plain arrays (no pickle needed).

    Returns ``{"left", "right", "feature", "threshold", "value", "roots"}``: the nodes of all trees
    concatenated (``left`` = -1 marks a leaf; child indices are global) and each tree's root index.
    :func:`predict_forest` evaluates it. Taught in chapter chapters/ma_nrqm.md.
    """
    trees = getattr(forest, "estimators_", None)
    if not trees:
        raise TypeError(f"forest_to_arrays: expected a fitted sklearn RandomForestRegressor, got {type(forest).__name__}")
    left, right, feat, thr, val, roots = [], [], [], [], [], []
    off = 0
    for est in trees:
        t = est.tree_
        if t.n_outputs != 1:
            raise ValueError("forest_to_arrays: only single-output forests are supported")
        leaf = t.children_left == -1
        left.append(np.where(leaf, -1, t.children_left + off))
        right.append(np.where(leaf, -1, t.children_right + off))
        feat.append(np.where(leaf, 0, t.feature))
        thr.append(np.where(leaf, 0.0, t.threshold))
        val.append(t.value[:, 0, 0])
        roots.append(off)
        off += t.node_count
    return {
        "left": np.concatenate(left).astype(np.int32),
        "right": np.concatenate(right).astype(np.int32),
        "feature": np.concatenate(feat).astype(np.int16),
        "threshold": np.concatenate(thr).astype(np.float64),
        "value": np.concatenate(val).astype(np.float64),
        "roots": np.asarray(roots, dtype=np.int32),
    }


_FOREST_KEYS = ("left", "right", "feature", "threshold", "value", "roots")


def predict_forest(arrays: dict, x) -> np.ndarray:
    """Mean prediction of a forest stored by :func:`forest_to_arrays` for feature rows ``x`` (N, D) or (D,).

    Each sample walks every tree from its root (go left when ``x[feature] <= threshold``) to a leaf;
    the forest's output is the mean leaf value. Taught in chapter chapters/ma_nrqm.md.
    """
    if not isinstance(arrays, dict) or any(k not in arrays for k in _FOREST_KEYS):
        raise TypeError(f"predict_forest: arrays must be a dict with keys {_FOREST_KEYS} (see forest_to_arrays)")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"predict_forest: x must have shape (N, D) or (D,), got {x.shape}")
    n_feat = int(arrays["feature"].max()) + 1 if arrays["feature"].size else 0
    if x.shape[1] < n_feat:
        raise ValueError(f"predict_forest: the forest uses {n_feat} features, x has {x.shape[1]}")
    left, right, feat, thr = arrays["left"], arrays["right"], arrays["feature"].astype(np.int64), arrays["threshold"]
    node = np.broadcast_to(arrays["roots"].astype(np.int64), (x.shape[0], arrays["roots"].size)).copy()
    rows = np.arange(x.shape[0])[:, None]
    for _ in range(256):
        inner = left[node] >= 0
        if not inner.any():
            break
        go_left = x[rows, feat[node]] <= thr[node]
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)
    return arrays["value"][node].mean(axis=1)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def _check_model_dict(model: dict) -> dict:
    if not isinstance(model, dict):
        raise TypeError(f"ma_score: model must be None or a dict from load_ma_model(), got {type(model).__name__}")
    for g in FEATURE_GROUPS:
        if g not in model or not isinstance(model[g], dict):
            raise ValueError(f"ma_score: model lacks the forest of group {g!r}; expected keys {FEATURE_GROUPS} and 'fusion'")
    w = np.asarray(model.get("fusion", ()), dtype=np.float64)
    if w.shape != (4,) or not np.isfinite(w).all():
        raise ValueError(f"ma_score: model['fusion'] must be 4 finite weights [w0, w1, w2, w3], got shape {w.shape}")
    return model


def _read_model(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        model = {g: {k: data[f"{g}_{k}"] for k in _FOREST_KEYS} for g in FEATURE_GROUPS}
        model["fusion"] = data["fusion"].astype(np.float64)
        model["meta"] = json.loads(str(data["meta"]))
    return model


@functools.lru_cache(maxsize=1)
def _shipped_model() -> dict:
    if not MODEL_FILE.is_file():  # pragma: no cover - broken install
        raise FileNotFoundError(f"the shipped Ma model {MODEL_FILE} is missing; run scripts/train_ma_model.py")
    return _read_model(MODEL_FILE)


def load_ma_model(path=None) -> dict:
    """Load a Ma model: ``{"dct": forest, "freq": forest, "svd": forest, "fusion": (4,), "meta": dict}``.

    ``path=None`` gives the shipped ``utils/iqa/ma_model.npz`` (cached); a path loads another file
    written by ``scripts/train_ma_model.py``. Loaded with ``allow_pickle=False``.
    Taught in chapter chapters/ma_nrqm.md.
    """
    if path is None:
        return _shipped_model()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"load_ma_model: no model file at {p}")
    return _read_model(p)


def ma_score(image, *, channel: str = "y", model=None, return_parts: bool = False):
    """Ma et al.'s no-reference score of ``image`` on 0..10, higher is better (paper eq. 6-7).

    ``image``: float (H, W) or (H, W, 3) in [0, 1], at least 32x32; ``channel`` as in
    :func:`ma_features`. Each feature group goes through its random forest (``s1, s2, s3``), and the
    score is the linear fusion ``w0 + w1 s1 + w2 s2 + w3 s3`` clipped to [0, 10]. ``model``: None
    for the shipped miniature model (trained on a proxy target, see the module docstring) or a dict
    from :func:`load_ma_model`. With ``return_parts=True`` returns ``(score, {"dct": s1, "freq": s2,
    "svd": s3})``. Taught in chapter chapters/ma_nrqm.md.
    """
    model = _check_model_dict(_shipped_model() if model is None else model)
    feats = ma_features(image, channel=channel)
    parts = {g: float(predict_forest(model[g], feats[g])[0]) for g in FEATURE_GROUPS}
    w = model["fusion"]
    score = float(np.clip(w[0] + sum(w[i + 1] * parts[g] for i, g in enumerate(FEATURE_GROUPS)), 0.0, 10.0))
    return (score, parts) if return_parts else score


def perceptual_index(image, *, shave: int = 4, return_parts: bool = False):
    """PIRM 2018's perceptual index ``PI = ((10 - Ma) + NIQE) / 2`` of ``image`` (lower is better).

    As the challenge computed it: both scores on the BT.601 Y channel of the image with ``shave``
    pixels (default 4) removed from every side. ``image``: float (H, W, 3) or (H, W) in [0, 1]; after
    shaving it must hold two 96x96 NIQE blocks (e.g. 104x200). Ma is the book's miniature model
    (:func:`ma_score`), so PI values are comparable within the book, not with published ones.
    ``return_parts=True`` returns ``(pi, {"ma": ..., "niqe": ...})``. Taught in chapter chapters/pirm.md.
    """
    from .niqe import niqe

    if isinstance(shave, bool) or not isinstance(shave, numbers.Integral):
        raise TypeError(f"perceptual_index: shave must be a non-negative integer, got {shave!r}")
    check_positive(int(shave), "shave", integer=True, allow_zero=True)
    img = as_image(image, "perceptual_index: image")
    h, w = img.shape[:2]
    if 2 * shave >= min(h, w):
        raise ValueError(f"perceptual_index: shave {shave} removes the whole {h}x{w} image")
    if shave:
        img = img[shave:-shave, shave:-shave]
    ma = ma_score(img, channel="y")
    nq = niqe(img, channel="y")
    pi = 0.5 * ((10.0 - ma) + nq)
    return (pi, {"ma": ma, "niqe": nq}) if return_parts else pi


# ---------------------------------------------------------------------------------------------
# The miniature training set: SR methods and the proxy target
# ---------------------------------------------------------------------------------------------

#: the stated proxy target: taps of the book's feature net and the scale of the exponential map
TARGET_TAPS = ("relu1_2", "relu2_2", "relu3_2")
TARGET_BLUR = 2.0


def _unsharp(img: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    blur = gaussian_filter(img, (sigma, sigma, 0) if img.ndim == 3 else sigma, mode="reflect")
    return np.clip(img + amount * (img - blur), 0.0, 1.0)


def _learned_filter(pairs, size: int = 5, ridge: float = 1e-3) -> np.ndarray:
    """Least-squares (ridge) size x size filter from bicubic-upscaled to the high-resolution residual."""
    rows, targets = [], []
    r = size // 2
    for up, hr in pairs:
        for c in range(up.shape[2]):
            win = np.lib.stride_tricks.sliding_window_view(np.pad(up[..., c], r, mode="reflect"), (size, size))
            rows.append(win[::2, ::2].reshape(-1, size * size))
            targets.append((hr[..., c] - up[..., c])[::2, ::2].ravel())
    a, b = np.concatenate(rows), np.concatenate(targets)
    return np.linalg.solve(a.T @ a + ridge * len(b) * np.eye(size * size), a.T @ b).reshape(size, size)


def super_resolve(lr, scale: int, method: str, *, seed: int = 0, filt=None) -> np.ndarray:
    """Upscale ``lr`` (H, W, 3) in [0, 1] by the integer ``scale`` with one of :data:`SR_METHODS`.

    ``nearest``, ``bilinear`` (pixel-centre aligned), ``bicubic`` (MATLAB-style); ``smoothed``
    (bicubic, then Gaussian blur sigma 1); ``sharpened`` / ``oversharpened`` (bicubic, then unsharp
    masking of amount 0.8 / 2.5, sigma 1); ``noisy`` (bicubic plus seeded Gaussian noise of sigma
    0.04, a crude fake texture); ``learned`` (bicubic plus a 5x5 linear filter ``filt`` fitted by
    least squares to high-resolution residuals, a small trained model). Output clipped to [0, 1].
    Used to build the training set of chapter chapters/ma_nrqm.md.
    """
    import torch
    import torch.nn.functional as F

    from ..degrade import bicubic_up

    lr = as_image(lr, "super_resolve: lr", channels=(3,), allow_gray2d=False, min_size=4)
    check_positive(scale, "scale", integer=True)
    check_choice(method, "method", SR_METHODS)
    if method == "nearest":
        return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
    if method == "bilinear":
        t = torch.from_numpy(lr.transpose(2, 0, 1)[None].copy())
        up = F.interpolate(t, scale_factor=scale, mode="bilinear", align_corners=False)
        return np.clip(up[0].numpy().transpose(1, 2, 0), 0.0, 1.0)
    up = bicubic_up(lr, scale)
    if method == "bicubic":
        return up
    if method == "smoothed":
        return np.clip(gaussian_filter(up, (1.0, 1.0, 0), mode="reflect"), 0.0, 1.0)
    if method == "sharpened":
        return _unsharp(up, 0.8)
    if method == "oversharpened":
        return _unsharp(up, 2.5)
    if method == "noisy":
        rng = np.random.default_rng(seed)
        return np.clip(up + rng.normal(0.0, 0.04, up.shape), 0.0, 1.0)
    if filt is None:
        raise ValueError("super_resolve: method 'learned' needs filt, a 5x5 filter from the training pairs")
    filt = np.asarray(filt, dtype=np.float64)
    if filt.shape != (5, 5):
        raise ValueError(f"super_resolve: filt must have shape (5, 5), got {filt.shape}")
    from scipy.ndimage import correlate

    res = np.stack([correlate(up[..., c], filt, mode="reflect") for c in range(3)], axis=2)
    return np.clip(up + res, 0.0, 1.0)


def _feature_distance(net, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Uniform-weight LPIPS-style distance between every image of ``a`` and ``b`` (N, H, W, 3)."""
    import torch

    x = torch.from_numpy(np.concatenate([a, b]).transpose(0, 3, 1, 2).copy()).float()
    with torch.no_grad():
        feats = net(x, taps=TARGET_TAPS)
    n = a.shape[0]
    d = np.zeros(n)
    for t in TARGET_TAPS:
        f = feats[t]
        f = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
        d += (f[:n] - f[n:]).pow(2).sum(dim=1).mean(dim=(1, 2)).double().numpy()
    return d


def ma_target(sr, hr) -> float:
    """The miniature's stated proxy for a human score of ``sr`` against its original ``hr`` (0..10, higher better).

    ``10 max(0, 1 - d(sr, hr) / d(blur(hr), hr))``: ``d`` is a full-reference deep-feature distance
    on the book's perceptual feature network (``utils.features.load_feature_net("book")``): for each
    tap of ``TARGET_TAPS`` the activations are unit-normalised over channels at every position, the
    squared difference is summed over channels and averaged over positions, and ``d`` sums the taps
    (LPIPS with uniform weights). Dividing by the distance of a Gaussian blur of ``TARGET_BLUR``
    pixels of the same original removes most of the content's difficulty: 10 is the original itself,
    0 is as far from it as that blur or further. It uses none of Ma's three feature groups.
    ``sr``, ``hr``: float (H, W, 3) in [0, 1] of the same shape, at least 16x16.
    Taught in chapter chapters/ma_nrqm.md.
    """
    from ..checks import check_same_shape
    from ..degrade import gaussian_blur
    from ..features import load_feature_net

    sr = as_image(sr, "ma_target: sr", channels=(3,), allow_gray2d=False, min_size=16)
    hr = as_image(hr, "ma_target: hr", channels=(3,), allow_gray2d=False, min_size=16)
    check_same_shape(sr, hr, ("sr", "hr"))
    net = load_feature_net(kind="book")
    d, d_ref = _feature_distance(net, np.stack([sr, gaussian_blur(hr, TARGET_BLUR)]), np.stack([hr, hr]))
    return float(10.0 * max(0.0, 1.0 - d / max(d_ref, 1e-12)))


def ma_dataset(names, *, crops_per_image: int = 3, crop: int = 120, scales=(2, 3, 4), methods=SR_METHODS, include_originals: bool = True, seed: int = 0):
    """Build a miniature SR quality set from packaged photos: features of every SR result and its proxy target.

    For each photo of ``names`` (``utils.data.IMAGE_NAMES``; grey ones are repeated to RGB), draws
    ``crops_per_image`` seeded ``crop`` x ``crop`` crops (a multiple of every scale), downscales each
    by every factor of ``scales`` (MATLAB-style bicubic), super-resolves it back with every method of
    ``methods`` (:func:`super_resolve`; the ``learned`` filter of each scale is fitted on this call's
    crops) and records the three feature groups (:func:`ma_features`, Y channel) and the target
    (:func:`ma_target`). Returns a dict of arrays: ``dct`` (N, 18), ``freq`` (N, 45), ``svd`` (N, 75),
    ``target`` (N,), ``photo`` (N,) index into ``names``, ``scale`` (N,), ``method`` (N,) index into
    ``methods``; with ``include_originals`` the crop itself is added too (scale 1, method -1). The
    targets of one crop's versions are computed in one batch (the formula of :func:`ma_target`). Used by ``scripts/train_ma_model.py`` and chapter chapters/ma_nrqm.md.
    """
    from ..data import IMAGE_NAMES, load_image, random_crops
    from ..degrade import bicubic_down

    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("ma_dataset: names is empty; expected packaged image names")
    for n in names:
        if n not in IMAGE_NAMES:
            raise ValueError(f"ma_dataset: unknown image {n!r}; expected names from utils.data.IMAGE_NAMES")
    check_positive(crops_per_image, "crops_per_image", integer=True)
    check_positive(crop, "crop", integer=True)
    scales = tuple(scales)
    methods = tuple(methods)
    if not scales:
        raise ValueError("ma_dataset: scales is empty")
    for s in scales:
        check_in_range(s, "scale", 2, 8)
        if crop % s:
            raise ValueError(f"ma_dataset: crop {crop} must be a multiple of every scale, not of {s}")
    if crop < 2 * MIN_SIZE:
        raise ValueError(f"ma_dataset: crop must be at least {2 * MIN_SIZE}, got {crop}")
    if not methods:
        raise ValueError("ma_dataset: methods is empty")
    for m in methods:
        check_choice(m, "method", SR_METHODS)
    hrs, photo = [], []
    for i, n in enumerate(names):
        img = load_image(n, gray=False)
        for c in random_crops(img, crops_per_image, crop, seed=seed * 7919 + i):
            hrs.append(c)
            photo.append(i)
    lrs = {s: [bicubic_down(h, s) for h in hrs] for s in scales}
    filters = {}
    if "learned" in methods:
        from ..degrade import bicubic_up

        for s in scales:
            filters[s] = _learned_filter([(bicubic_up(lr, s), h) for lr, h in zip(lrs[s], hrs)])
    from ..degrade import gaussian_blur
    from ..features import load_feature_net

    net = load_feature_net(kind="book")
    out = {g: [] for g in (*FEATURE_GROUPS, "target", "photo", "scale", "method")}
    for j, hr in enumerate(hrs):
        # every version of this crop: (scale, method index, image); the original itself is scale 1, method -1
        versions = [(1, -1, hr)] if include_originals else []
        for s in scales:
            for k, m in enumerate(methods):
                versions.append((s, k, super_resolve(lrs[s][j], s, m, seed=seed * 100003 + j * 31 + s, filt=filters.get(s))))
        # proxy targets of all versions in one pass of the feature net (same formula as ma_target)
        batch = np.stack([v[2] for v in versions] + [gaussian_blur(hr, TARGET_BLUR)])
        d = _feature_distance(net, batch, np.broadcast_to(hr, batch.shape))
        targets = 10.0 * np.maximum(0.0, 1.0 - d[:-1] / max(d[-1], 1e-12))
        for (s, k, img), t in zip(versions, targets):
            f = ma_features(img, channel="y")
            for g in FEATURE_GROUPS:
                out[g].append(f[g])
            out["target"].append(float(t))
            out["photo"].append(photo[j])
            out["scale"].append(s)
            out["method"].append(k)
    return {k: np.asarray(v) for k, v in out.items()}
