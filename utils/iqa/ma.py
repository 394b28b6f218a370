"""Ma et al.'s no-reference quality score for super-resolved images (NRQM), and PIRM's perceptual index.

C. Ma, C.-Y. Yang, X. Yang and M.-H. Yang, "Learning a No-Reference Quality Metric for Single-Image
Super-Resolution", Computer Vision and Image Understanding 158, 2017. Taught in chapter
chapters/ma_nrqm.md; the perceptual index of the PIRM 2018 challenge is taught in chapters/pirm.md.

The features follow the official MATLAB release (chaoma99/sr-metric, ``feature_all.m``), rewritten
here from its description; the luminance is the 8-bit grey image MATLAB holds:

1. **Local frequency** (``block_dct.m``, 18 numbers) on three scales of the [0, 1] image (the image,
   then twice: 3x3 Gaussian, sigma 0.5, zero borders, keep every second pixel from the second): DCT
   of the 7x7 blocks ``blkproc(im, [3 3], [2 2])`` hands over (3x3 blocks plus a 2-pixel border,
   zero-padded). Per block: the generalised-Gaussian shape of the 48 AC coefficients, their
   coefficient of variation std|c| / mean|c|, and the variance over the three oriented index sets
   of ``oriented{1,2,3}_dct_rho_config3.m`` of the same ratio. Pooled: shape by the mean of its
   lowest 10% and its mean; the other two by the mean of their highest 10% and their mean.
2. **Global frequency** (``global_gsm.m``, 45 numbers) on the 0..255 image: the real steerable
   pyramid ``buildSFpyr`` (2 scales, 6 orientations, Fourier domain; :func:`steerable_pyramid`),
   each band divisively normalised by its Gaussian-scale-mixture field (``norm_sender_normalized.m``:
   3x3 neighbours, parent, other orientations; 16-pixel guard band). Features: GGD shapes of the 12
   normalised sub-bands, 6 shapes of each orientation's two scales together, 12 SSIM
   contrast-structure terms of each raw band (enlarged bicubic) against the high-pass residual, and
   15 between the normalised orientations of the finest scale.
3. **Spatial** (75 numbers): the raw singular values of ``im2col(im, [5 5], 'distinct')`` (25 per
   scale, three scales, zero-padded to whole patches).

Regression: one random forest per group, then ``score = [1 s1 s2 s3] * linear`` as
``quality_predict.m`` returns it: unclipped (higher is better; the official scores run about 0..10).

The shipped model. The authors' forests (``model.mat``, 3 x 2000 trees trained on 1,440 human-rated SR
images) are not available offline. ``ma_model.npz`` next to this file holds small forests trained by
``scripts/train_ma_model.py`` on a miniature set built from packaged photos super-resolved by
several methods (:func:`ma_dataset`). Its target is a *stated proxy for human scores*, computed
from none of the three feature groups and from no network any generator of the book trains
against: :func:`ma_target`, a full-reference distance to the high-resolution original on the book's
independent JUDGE network (``utils.judge``), relative to that of a strong blur of the same original,
mapped to 0..10. The forests are stored as plain arrays (no pickle) and evaluated by :func:`predict_forest`.
"""
from __future__ import annotations

import functools
import json
import math
import numbers
from pathlib import Path

import numpy as np
from scipy.ndimage import correlate, gaussian_filter
from scipy.special import gammaln

from ..checks import as_image, check_choice, check_in_range, check_positive

__all__ = [
    "ma_score",
    "ma_features",
    "ma_stage_times",
    "steerable_pyramid",
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
    "MIN_SIZE",
]

MODEL_FILE = Path(__file__).resolve().with_name("ma_model.npz")
#: the three feature groups, in the order of the paper and of ``feature_all.m``
FEATURE_GROUPS = ("dct", "freq", "svd")
GROUP_SIZES = {"dct": 18, "freq": 45, "svd": 75}
#: super-resolution methods of the miniature training set (:func:`super_resolve`)
SR_METHODS = ("nearest", "bilinear", "bicubic", "smoothed", "sharpened", "oversharpened", "noisy", "learned")
_CHANNELS = ("y", "gray")
#: smallest height and width ma_score accepts: after the 3x3 neighbourhoods and the 16-pixel guard band
#: of the normalisation, the finest oriented sub-bands must still hold an 11x11 SSIM window
MIN_SIZE = 48
#: the official release's constants (feature_all.m, global_gsm.m, norm_sender_normalized.m)
N_ORIENT, N_SCALES, GUARDBAND = 6, 2, 16

# ---------------------------------------------------------------------------------------------
# Generalised Gaussian shape and coefficient of variation (gama_gen_gauss.m, coeff_var_gen_gauss.m)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _ggd_table() -> tuple[np.ndarray, np.ndarray]:
    # the official grid 0.03:0.001:10 and r(g) = G(1/g) G(3/g) / G(2/g)^2 (decreasing in g), via log-gamma
    g = np.round(np.arange(30, 10001) * 1e-3, 3)
    r = np.exp(gammaln(1.0 / g) + gammaln(3.0 / g) - 2.0 * gammaln(2.0 / g))
    return g, r


def _ggd_shape(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Generalised Gaussian shape of the values along ``axis`` as ``gama_gen_gauss.m`` computes it.

    rho = var(x) / (mean(|x - mean x|)^2 + 1e-7) with the unbiased variance, then the value g of the
    grid 0.03:0.001:10 whose ratio r(g) = G(1/g) G(3/g) / G(2/g)^2 is nearest to rho."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    var = x.var(axis=-1, ddof=1)
    mean_abs = np.abs(x - x.mean(axis=-1, keepdims=True)).mean(axis=-1) ** 2
    rho = var / (mean_abs + 1e-7)
    g, r = _ggd_table()
    # nearest grid ratio; r is decreasing, so search in the reversed (increasing) table
    rr = r[::-1]
    j = np.clip(np.searchsorted(rr, rho), 1, rr.size - 1)
    # MATLAB min() returns the first of equal distances in the decreasing order, i.e. the smaller g
    k = np.where(np.abs(rr[j - 1] - rho) < np.abs(rr[j] - rho), j - 1, j)
    return g[::-1][k]


def _coeff_var(x: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """std(|x|) / (mean |x| + eps) along the last axis (unbiased std), as ``coeff_var_gen_gauss.m``."""
    a = np.abs(x)
    return a.std(axis=-1, ddof=1) / (a.mean(axis=-1) + eps)


# ---------------------------------------------------------------------------------------------
# Luminance and scales (feature_all.m)
# ---------------------------------------------------------------------------------------------


def _luminance(image, channel: str, name: str) -> np.ndarray:
    """The 0..255 grey image MATLAB holds (uint8 values): Y of BT.601 (``rgb2ycbcr``) or ``rgb2gray``."""
    from .niqe import _luminance255

    check_choice(channel, "channel", _CHANNELS)
    img = as_image(image, name, min_size=MIN_SIZE)
    return _luminance255(img, channel, name)


_G3 = np.exp(-0.5 * (np.arange(-1, 2) / 0.5) ** 2)
_G3 = np.outer(_G3, _G3) / np.outer(_G3, _G3).sum()  # fspecial('gaussian', 3) (sigma 0.5)


def _scales(im01: np.ndarray) -> list[np.ndarray]:
    """im1, im2, im3 of feature_all.m: imfilter with the 3x3 Gaussian (zero borders), keep pixels (2:2:end)."""
    out = [im01]
    for _ in range(2):
        f = correlate(out[-1], _G3, mode="constant", cval=0.0)
        out.append(f[1::2, 1::2])
    return out


# ---------------------------------------------------------------------------------------------
# Group 1: local frequency, 18 numbers (block_dct.m and the functions it calls)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _dct_setup():
    n = 7
    k = np.arange(n)
    d = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)  # orthonormal DCT-II matrix, as MATLAB's dct2
    # the three oriented index sets of oriented{1,2,3}_dct_rho_config3.m for 7x7 blocks, as
    # (row, column) of the coefficient matrix (0-based here; the MATLAB files are 1-based)
    s1 = [(0, c) for c in range(1, 7)] + [(1, c) for c in range(2, 7)] + [(2, c) for c in range(4, 7)] + [(3, c) for c in range(5, 7)]
    s2 = ([(1, 1)] + [(2, c) for c in (2, 3)] + [(3, c) for c in (2, 3, 4)] + [(4, c) for c in range(3, 7)]
          + [(5, c) for c in range(4, 7)] + [(6, c) for c in range(4, 7)])
    s3 = [(c, r) for r, c in s1]
    sets = [np.array([r * 7 + c for r, c in s]) for s in (s1, s2, s3)]
    return d, sets


def _dct_blocks(im: np.ndarray) -> np.ndarray:
    """DCT coefficients (N, 49) of the blocks ``blkproc(im, [3 3], [2 2], fun)`` hands to ``fun``.

    blkproc cuts the image (zero-padded to a multiple of 3) into 3x3 blocks and adds a border of 2
    zero-padded pixels: 7x7 windows every 3 pixels, starting 2 pixels before the image. Row-major
    index r * 7 + c of the coefficient matrix; index 0 is the DC."""
    d, _ = _dct_setup()
    h, w = im.shape
    nh, nw = -(-h // 3), -(-w // 3)
    pad = np.zeros((3 * nh + 4, 3 * nw + 4))
    pad[2:2 + h, 2:2 + w] = im
    win = np.lib.stride_tricks.sliding_window_view(pad, (7, 7))[::3, ::3]
    blocks = win.reshape(-1, 49)
    return blocks @ np.kron(d, d).T  # vec(D B D^T) = (D kron D) vec(B), row-major vec


def _pool_low(v: np.ndarray) -> float:
    s = np.sort(v)
    return float(s[: int(math.ceil(0.1 * s.size))].mean())


def _pool_high(v: np.ndarray) -> float:
    s = np.sort(v)
    start = max(int(math.floor(0.9 * s.size)) - 1, 0)  # MATLAB s(fix(0.9 n):end), 1-based
    return float(s[start:].mean())


def _block_dct(im: np.ndarray) -> np.ndarray:
    _, sets = _dct_setup()
    c = _dct_blocks(im)
    ac = c[:, 1:]
    gam = _ggd_shape(ac)
    cv = _coeff_var(ac)
    ori = np.stack([_coeff_var(c[:, s], eps=1e-8) for s in sets], axis=1).var(axis=1, ddof=1)
    return np.array([_pool_low(gam), gam.mean(), _pool_high(cv), cv.mean(), _pool_high(ori), ori.mean()])


def _dct_features(scales) -> np.ndarray:
    return np.concatenate([_block_dct(im) for im in scales])


# ---------------------------------------------------------------------------------------------
# Group 2: global frequency, 45 numbers (global_gsm.m, norm_sender_normalized.m, buildSFpyr.m)
# ---------------------------------------------------------------------------------------------


def _rcos(width: float = 1.0, position: float = -0.5):
    """rcosFn.m: the raised-cosine look-up table (X, Y) of the pyramid's radial masks."""
    sz = 256
    x = np.pi * np.arange(-sz - 1, 2) / (2 * sz)
    y = np.cos(x) ** 2
    y[0] = y[1]
    y[sz + 2] = y[sz + 1]
    return position + (2 * width / np.pi) * (x + np.pi / 4), y


def _lut(v: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # pointOp: linear interpolation in a table; the tables used here are flat at both ends, so
    # pointOp's linear extrapolation and np.interp's clamping agree
    return np.interp(v, x, y)


def steerable_pyramid(im: np.ndarray, height: int = N_SCALES, n_orient: int = N_ORIENT) -> list[np.ndarray]:
    """The real steerable pyramid of matlabPyrTools' ``buildSFpyr(im, height, n_orient - 1)``, built in the Fourier domain.

    Returns ``[high-pass residual, scale-1 bands (n_orient), ..., scale-height bands, low-pass residual]``
    as 2-D arrays (scale s has about 1 / 2**(s-1) of the size). Same radial raised-cosine masks
    (``rcosFn``, width one octave), angular masks ``sqrt(c) cos(theta - pi b / K)^(K-1)`` read from
    the same 1024-step table, the same Fourier-domain cropping between scales and real parts.
    ``im``: 2-D float array, at least 16x16. Taught in chapter chapters/ma_nrqm.md.
    """
    im = np.asarray(im, dtype=np.float64)
    if im.ndim != 2:
        raise ValueError(f"steerable_pyramid: im must be a 2-D array, got shape {im.shape}")
    max_ht = int(math.floor(math.log2(min(im.shape)))) - 2
    check_positive(height, "height", integer=True)
    if height > max_ht:
        raise ValueError(f"steerable_pyramid: cannot build {height} levels on a {im.shape[0]}x{im.shape[1]} image (at most {max_ht})")
    check_in_range(n_orient, "n_orient", 1, 16)
    dims = np.array(im.shape)
    ctr = dims // 2  # 0-based centre of the shifted spectrum (MATLAB ceil((dims + 0.5) / 2), 1-based)
    xr, yr = np.meshgrid((np.arange(dims[1]) - ctr[1]) / (dims[1] / 2), (np.arange(dims[0]) - ctr[0]) / (dims[0] / 2))
    angle = np.arctan2(yr, xr)
    rad = np.sqrt(xr**2 + yr**2)
    rad[ctr[0], ctr[1]] = rad[ctr[0], ctr[1] - 1]
    log_rad = np.log2(rad)
    xrc, yrc = _rcos()
    yrc = np.sqrt(yrc)
    yirc = np.sqrt(1.0 - yrc**2)
    imdft = np.fft.fftshift(np.fft.fft2(im))
    hi0 = np.real(np.fft.ifft2(np.fft.ifftshift(imdft * _lut(log_rad, xrc, yrc))))
    lodft = imdft * _lut(log_rad, xrc, yirc)
    order = n_orient - 1
    lutsize = 1024
    xcosn = np.pi * np.arange(-(2 * lutsize + 1), lutsize + 2) / lutsize
    const = (2 ** (2 * order)) * (math.factorial(order) ** 2) / (n_orient * math.factorial(2 * order))
    ycosn = np.sqrt(const) * np.cos(xcosn) ** order
    out = [hi0]
    for _ in range(height):
        xrc = xrc - 1.0
        himask = _lut(log_rad, xrc, yrc)
        for b in range(n_orient):
            anglemask = _lut(angle, xcosn + np.pi * b / n_orient, ycosn)
            out.append(np.real(np.fft.ifft2(np.fft.ifftshift(((-1j) ** order) * lodft * anglemask * himask))))
        d = np.array(lodft.shape)
        c = d // 2
        lod = (d + 1) // 2
        s0 = c - lod // 2
        sl = (slice(s0[0], s0[0] + lod[0]), slice(s0[1], s0[1] + lod[1]))
        log_rad, angle, lodft = log_rad[sl], angle[sl], lodft[sl]
        lodft = lodft * _lut(log_rad, xrc, np.abs(np.sqrt(1.0 - yrc**2)))
    out.append(np.real(np.fft.ifft2(np.fft.ifftshift(lodft))))
    return out


def _resize_to(a: np.ndarray, shape) -> np.ndarray:
    """MATLAB ``imresize(a, [M N])`` (bicubic; the scale per axis is output / input size)."""
    from ..degrade import _resize_matrix

    (h, w), (oh, ow) = a.shape, shape
    if (h, w) == (oh, ow):
        return a.copy()
    return _resize_matrix(h, oh, oh / h, True) @ a @ _resize_matrix(w, ow, ow / w, True).T


def _normalised_subbands(bands: list[np.ndarray]) -> list[np.ndarray]:
    """norm_sender_normalized.m with the arguments global_gsm.m passes (parent and neighbours on, 3x3 blocks).

    Each oriented band is divided, coefficient by coefficient, by the Gaussian-scale-mixture
    estimate of its local scale z = sqrt(y C^-1 y^T / N), y holding the 3x3 spatial neighbourhood,
    the parent (the same orientation one scale coarser, enlarged x2 bicubic) and the other
    orientations of the scale at the same position; C is their (non-centred) covariance over the
    band. Like the official code, only bands whose index is below (number of bands - orientations)
    get a parent (the first five of the finest scale), and N counts the spatial neighbours and the
    parent only. The 16 / 2**(s-1)-pixel guard band is cut and the mean removed. Where z is 0 (a flat
    image) the coefficient is set to 0 (the official code would fail there)."""
    from .niqe import _pinv_matlab

    n_band = len(bands) - 1  # pind rows minus one, as the official code counts
    out = []
    for s in range(N_SCALES):
        for o in range(N_ORIENT):
            nband = s * N_ORIENT + o + 2  # 1-based pyramid band index (1 is the high-pass residual)
            aux = bands[nband - 1]
            nsy, nsx = aux.shape
            prnt = nband < n_band - N_ORIENT
            nv, nh = nsy - 2, nsx - 2
            cols = [aux[1 - dy: 1 - dy + nv, 1 - dx: 1 - dx + nh].ravel() for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
            if prnt:
                par = bands[nband - 1 + N_ORIENT]
                par = _resize_to(par, (2 * par.shape[0], 2 * par.shape[1]))[:nsy, :nsx]
                cols.append(par[1:1 + nv, 1:1 + nh].ravel())
            for q in range(N_ORIENT):
                if q != o:
                    cols.append(bands[s * N_ORIENT + q + 1][1:1 + nv, 1:1 + nh].ravel())
            y = np.stack(cols, axis=1)
            n = 9 + int(prnt)
            cx = y.T @ y / y.shape[0]
            lam, q_ = np.linalg.eigh(cx)
            pos = lam * (lam > 0)
            lam = pos * lam.sum() / (pos.sum() + float(pos.sum() == 0))
            cx = (q_ * lam) @ q_.T
            oc = aux[1:1 + nv, 1:1 + nh].ravel()
            oc = oc - oc.mean()
            z = np.sqrt(np.maximum(np.sum((y @ _pinv_matlab(cx)) * y, axis=1) / n, 0.0))
            g = np.divide(oc, z, out=np.zeros_like(oc), where=z != 0).reshape(nv, nh)
            gb = GUARDBAND // (2**s)
            g = g[gb:-gb, gb:-gb]
            out.append(g - g.mean())
    return out


@functools.lru_cache(maxsize=1)
def _ssim_window() -> np.ndarray:
    t = np.arange(11) - 5.0
    g = np.exp(-(t**2) / (2 * 1.5**2))
    w = np.outer(g, g)
    return w / w.sum()


def _mean_cs(a: np.ndarray, b: np.ndarray) -> float:
    """Third output of ``ssim_index_new.m``: mean of (2 s_ab + C2) / (s_a^2 + s_b^2 + C2), 11x11 Gaussian (1.5), 'valid', C2 = (0.03 * 255)^2."""
    g = _ssim_window()[5]
    g = g / g.sum()  # the normalised 2-D window is the outer product of this 1-D one

    def f(x):  # filter2(w, x, 'valid') with the separable window
        r = np.lib.stride_tricks.sliding_window_view(x, 11, axis=0) @ g
        return np.lib.stride_tricks.sliding_window_view(r, 11, axis=1) @ g

    c2 = (0.03 * 255) ** 2
    mu_a, mu_b = f(a), f(b)
    s_aa = f(a * a) - mu_a**2
    s_bb = f(b * b) - mu_b**2
    s_ab = f(a * b) - mu_a * mu_b
    return float(np.mean((2 * s_ab + c2) / (s_aa + s_bb + c2)))


def _freq_from_pyramid(bands: list[np.ndarray], subbands: list[np.ndarray]) -> np.ndarray:
    feats = [float(_ggd_shape(sb.ravel())) for sb in subbands]  # 12 shapes of the normalised sub-bands
    feats += [float(_ggd_shape(np.concatenate([subbands[o].ravel(), subbands[o + N_ORIENT].ravel()])))
              for o in range(N_ORIENT)]  # 6 shapes across the two scales
    hp = bands[0]
    feats += [_mean_cs(_resize_to(bands[i + 1], hp.shape), hp) for i in range(2 * N_ORIENT)]  # 12 vs the high-pass
    feats += [_mean_cs(subbands[i], subbands[j]) for i in range(N_ORIENT) for j in range(i + 1, N_ORIENT)]  # 15
    return np.asarray(feats)


def _freq_features(im255: np.ndarray) -> np.ndarray:
    bands = steerable_pyramid(im255)
    return _freq_from_pyramid(bands, _normalised_subbands(bands))


# ---------------------------------------------------------------------------------------------
# Group 3: spatial, 75 numbers (singular values of im2col(im, [5 5], 'distinct'))
# ---------------------------------------------------------------------------------------------


def _svd_scale(im: np.ndarray) -> np.ndarray:
    h, w = im.shape
    ph, pw = -(-h // 5) * 5, -(-w // 5) * 5
    pad = np.zeros((ph, pw))
    pad[:h, :w] = im  # im2col 'distinct' zero-pads to whole blocks
    patches = pad.reshape(ph // 5, 5, pw // 5, 5).transpose(0, 2, 1, 3).reshape(-1, 25)
    s = np.linalg.svd(patches, compute_uv=False)
    return np.concatenate([s, np.zeros(25 - s.size)])  # fewer than 25 patches: the missing values are 0


def _svd_features(scales) -> np.ndarray:
    return np.concatenate([_svd_scale(im) for im in scales])


def ma_features(image, *, channel: str = "y") -> dict[str, np.ndarray]:
    """The three feature groups of Ma et al. for ``image``: ``{"dct": (18,), "freq": (45,), "svd": (75,)}``.

    As the official release's ``feature_all.m`` computes them (see the module docstring).
    ``image``: float (H, W) or (H, W, 3) in [0, 1], at least 48x48; it is quantised to 8 bits as a
    file would hold it. ``channel``: "y" (BT.601 Y, as PIRM scores) or "gray" (MATLAB
    ``rgb2gray``, as ``feature_all.m`` does on RGB input); a 2-D image is used as it is. Taught in
    chapter chapters/ma_nrqm.md.
    """
    lum = _luminance(image, channel, "ma_features: image")
    scales = _scales(lum / 255.0)
    return {"dct": _dct_features(scales), "freq": _freq_features(lum), "svd": _svd_features(scales)}


def ma_stage_times(image, *, channel: str = "y", model=None) -> dict[str, float]:
    """Wall seconds of each stage of :func:`ma_score` on ``image`` (one run, this thread).

    Keys: "dct features", "steerable pyramid", "normalisation (GSM)", "SSIM and shapes (freq)",
    "svd features", "forests". ``model`` as in :func:`ma_score` (e.g. forests of the official size).
    Taught in chapter chapters/ma_nrqm.md.
    """
    import time

    model = _check_model_dict(_shipped_model() if model is None else model)
    t = {}
    t0 = time.perf_counter()
    lum = _luminance(image, channel, "ma_stage_times: image")
    scales = _scales(lum / 255.0)
    f_dct = _dct_features(scales)
    t["dct features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bands = steerable_pyramid(lum)
    t["steerable pyramid"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sub = _normalised_subbands(bands)
    t["normalisation (GSM)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    f_freq = _freq_from_pyramid(bands, sub)
    t["SSIM and shapes (freq)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    f_svd = _svd_features(scales)
    t["svd features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for g, f in zip(FEATURE_GROUPS, (f_dct, f_freq, f_svd)):
        predict_forest(model[g], f)
    t["forests"] = time.perf_counter() - t0
    return t


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
        # the stored training rows (features and targets of every photo), when the file holds them
        model["data"] = {k[5:]: data[k] for k in data.files if k.startswith("data_")}
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
    """Ma et al.'s no-reference score of ``image``, higher is better (``quality_predict.m``).

    ``image``: float (H, W) or (H, W, 3) in [0, 1], at least 48x48; ``channel`` as in
    :func:`ma_features`. Each feature group goes through its random forest (``s1, s2, s3``), and the
    score is the linear fusion ``[1 s1 s2 s3] * linear``, NOT clipped (as the official code). ``model``: None
    for the shipped miniature model (trained on a proxy target, see the module docstring) or a dict
    from :func:`load_ma_model`. With ``return_parts=True`` returns ``(score, {"dct": s1, "freq": s2,
    "svd": s3})``. Taught in chapter chapters/ma_nrqm.md.
    """
    model = _check_model_dict(_shipped_model() if model is None else model)
    feats = ma_features(image, channel=channel)
    parts = {g: float(predict_forest(model[g], feats[g])[0]) for g in FEATURE_GROUPS}
    w = model["fusion"]
    score = float(w[0] + sum(w[i + 1] * parts[g] for i, g in enumerate(FEATURE_GROUPS)))
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

#: the stated proxy target: the judge network's taps (all four) and the blur that defines 0
TARGET_TAPS = ("s1", "s2", "s3", "s4")
TARGET_BLUR = 2.0
#: what the target is, in words (recorded in the model's metadata and printed by the chapters)
TARGET_NAME = ("ma_target: 10 max(0, 1 - d(sr, hr) / d(blur(hr), hr)), d = utils.judge.judge_distance "
               "(the independent judge network, uniform LPIPS form over taps s1..s4), blur sigma 2 px")


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


def _judge_distance(a: np.ndarray, b: np.ndarray, chunk: int = 16) -> np.ndarray:
    """judge_distance between every image of ``a`` and ``b`` (N, H, W, 3) as float64 (N,)."""
    import torch

    from ..judge import judge_distance

    out = []
    for i in range(0, a.shape[0], chunk):
        x = torch.from_numpy(np.ascontiguousarray(a[i:i + chunk].transpose(0, 3, 1, 2))).float()
        y = torch.from_numpy(np.ascontiguousarray(b[i:i + chunk].transpose(0, 3, 1, 2))).float()
        out.append(judge_distance(x, y, TARGET_TAPS).double().numpy())
    return np.concatenate(out)


def ma_target(sr, hr) -> float:
    """The miniature's stated proxy for a human score of ``sr`` against its original ``hr`` (0..10, higher better).

    ``10 max(0, 1 - d(sr, hr) / d(blur(hr), hr))``: ``d`` is ``utils.judge.judge_distance``, the
    LPIPS-form distance on the book's independent JUDGE network (no generator of the book trains
    against it; taps ``TARGET_TAPS``). Dividing by the distance of a Gaussian blur of
    ``TARGET_BLUR`` pixels of the same original removes most of the content's difficulty: 10 is the
    original itself, 0 is as far from it as that blur or further. It uses none of Ma's three feature
    groups. ``sr``, ``hr``: float (H, W, 3) in [0, 1] of the same shape, at least 16x16.
    Taught in chapter chapters/ma_nrqm.md.
    """
    from ..checks import check_same_shape
    from ..degrade import gaussian_blur

    sr = as_image(sr, "ma_target: sr", channels=(3,), allow_gray2d=False, min_size=16)
    hr = as_image(hr, "ma_target: hr", channels=(3,), allow_gray2d=False, min_size=16)
    check_same_shape(sr, hr, ("sr", "hr"))
    d, d_ref = _judge_distance(np.stack([sr, gaussian_blur(hr, TARGET_BLUR)]), np.stack([hr, hr]))
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

    out = {g: [] for g in (*FEATURE_GROUPS, "target", "photo", "scale", "method")}
    for j, hr in enumerate(hrs):
        # every version of this crop: (scale, method index, image); the original itself is scale 1, method -1
        versions = [(1, -1, hr)] if include_originals else []
        for s in scales:
            for k, m in enumerate(methods):
                versions.append((s, k, super_resolve(lrs[s][j], s, m, seed=seed * 100003 + j * 31 + s, filt=filters.get(s))))
        # proxy targets of all versions in one pass of the judge network (same formula as ma_target)
        batch = np.stack([v[2] for v in versions] + [gaussian_blur(hr, TARGET_BLUR)])
        d = _judge_distance(batch, np.broadcast_to(hr, batch.shape))
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
