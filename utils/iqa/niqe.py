"""NIQE, the Natural Image Quality Evaluator, ported from the official MATLAB release.

Mittal, Soundararajan and Bovik, "Making a Completely Blind Image Quality Analyzer",
IEEE Signal Processing Letters 20(3), 2012. Taught in chapter chapters/niqe.md.

NIQE is a no-reference ("completely blind") quality score: lower is better. It needs no
human opinion scores. Instead it compares the statistics of a test image with those of a
collection of pristine natural images:

1. Luminance: the image becomes one 8-bit grey channel on a 0..255 scale (MATLAB ``rgb2gray``,
   or the BT.601 Y of ``rgb2ycbcr``), cropped to a multiple of the block size (96).
2. MSCN coefficients (paper Sec. II-A, "Spatial domain NSS"): ``(I - mu) / (sigma + 1)`` with a
   local Gaussian-weighted mean ``mu`` and standard deviation ``sigma`` (window
   ``fspecial('gaussian', 7, 7/6)``, replicated borders). See :func:`mscn`.
3. Features (Sec. II-C, "Characterizing image patches"): each non-overlapping 96x96 block gives
   18 numbers: the shape and scale of a generalised Gaussian fitted to its MSCN values, and the
   shape, mean and two scales of an asymmetric generalised Gaussian (AGGD) fitted to the
   products of horizontally, vertically and diagonally neighbouring MSCN values. The same 18
   are computed again on the image halved with MATLAB's antialiased bicubic ``imresize``
   (48x48 blocks), 36 features per block. See :func:`niqe_features`, :func:`fit_aggd`.
4. Multivariate Gaussian (MVG) model (Sec. II-D): mean ``nu`` and covariance ``Sigma`` of the
   block features. The pristine model (``nu1``, ``Sigma1``) was fitted by the authors on 125
   pristine images, keeping only sharp blocks (Sec. II-B, "Patch selection"); see
   :func:`fit_pristine_model`. The test model (``nu2``, ``Sigma2``) uses every block.
5. NIQE index (Sec. II-E): the distance
   ``D = sqrt((nu1 - nu2)^T ((Sigma1 + Sigma2) / 2)^+ (nu1 - nu2))``, with the pseudo-inverse.

Faithfulness. The code follows the official MATLAB functions ``computequality.m``,
``computefeature.m``, ``estimateaggdparam.m`` and ``estimatemodelparam.m`` step by step,
including their details: the AGGD shape comes from a grid search over ``0.2:0.001:10``, a block
whose fit is undefined (for example a flat block) contributes NaN features as in MATLAB, the test
mean ignores NaNs column by column (``nanmean``) and the covariance keeps complete rows only
(``nancov``), and the pseudo-inverse uses MATLAB's tolerance. It reproduces the official scores of
``../shared/calibration/niqe/values.csv`` (see ``tests/test_niqe.py``).

Pristine model and licence. ``niqe_pristine_model.npz`` next to this file holds the official
pristine model (``modelparameters.mat`` of the NIQE software release, converted by
``scripts/convert_niqe_model.py``). It is Copyright (c) 2011 The University of Texas at Austin and is
distributed under the notice in ``NIQE_MODEL_NOTICE.txt`` (same folder), which must travel with it.
Research that reports results computed with it must acknowledge LIVE / CPS at UT Austin and cite
A. Mittal, R. Soundararajan and A. C. Bovik, "NIQE Software Release",
http://live.ece.utexas.edu/research/quality/niqe.zip, 2012, and the SPL 2012 paper above.

Note: ``utils.iqa`` re-exports the function :func:`niqe`, which hides this module's name on the
package; import the other helpers with ``from utils.iqa.niqe import fit_aggd``.
"""
from __future__ import annotations

import functools
import importlib.resources
import numbers
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.ndimage import correlate1d
from scipy.special import gamma as _gamma_fn

from ..checks import as_image, check_choice
from ..degrade import imresize

__all__ = [
    "niqe",
    "niqe_features",
    "mscn",
    "fit_aggd",
    "fit_ggd",
    "fit_pristine_model",
    "load_pristine_model",
    "AGGDFit",
    "GGDFit",
    "NIQE_FEATURE_NAMES",
]

MODEL_FILE = "niqe_pristine_model.npz"
NOTICE_FILE = "NIQE_MODEL_NOTICE.txt"
_CHANNELS = ("gray", "y")
_DEFAULT_BLOCK = 96

# ---------------------------------------------------------------------------------------------
# Constants of the official code
# ---------------------------------------------------------------------------------------------

# MATLAB rgb2gray: first row of the inverse of the NTSC (YIQ) matrix, documented as
# 0.2989, 0.5870, 0.1140; MATLAB computes with the unrounded values below.
_RGB2GRAY = np.linalg.inv(
    np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
)[0]
# MATLAB rgb2ycbcr, luma row, for uint8 input: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255.
_RGB2Y = np.array([65.481, 128.553, 24.966]) / 255.0

# fspecial('gaussian', 7, 7/6), normalised; it is separable, so two 1-D passes give the same filter.
_G1D = np.exp(-0.5 * (np.arange(-3, 4, dtype=np.float64) / (7.0 / 6.0)) ** 2)
_G1D /= _G1D.sum()

# Pair-product shifts of computefeature.m, as circshift offsets (rows, cols) inside each block:
# horizontal neighbour, vertical neighbour, main diagonal, anti-diagonal.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _feature_names() -> tuple[str, ...]:
    names = []
    for s in (1, 2):
        names += [f"s{s}_mscn_alpha", f"s{s}_mscn_beta"]
        for d in ("h", "v", "d1", "d2"):
            names += [f"s{s}_{d}_alpha", f"s{s}_{d}_eta", f"s{s}_{d}_beta_l", f"s{s}_{d}_beta_r"]
    return tuple(names)


#: Names of the 36 columns of :func:`niqe_features`, in the official order: for scale 1 then
#: scale 2, the MSCN GGD shape and scale, then (shape, mean, left scale, right scale) of the AGGD of
#: the horizontal (h), vertical (v), main-diagonal (d1) and anti-diagonal (d2) neighbour products.
NIQE_FEATURE_NAMES: tuple[str, ...] = _feature_names()


@functools.lru_cache(maxsize=None)
def _gamma_table():
    """Lookup of estimateaggdparam.m: the grid gam = 0.2:0.001:10 and r(gam), plus per-grid constants."""
    gam = 0.2 + 0.001 * np.arange(9801)
    r_gam = _gamma_fn(2.0 / gam) ** 2 / (_gamma_fn(1.0 / gam) * _gamma_fn(3.0 / gam))
    scale = np.sqrt(_gamma_fn(1.0 / gam) / _gamma_fn(3.0 / gam))  # sigma -> beta
    eta = _gamma_fn(2.0 / gam) / _gamma_fn(1.0 / gam)  # (beta_r - beta_l) -> AGGD mean
    for a in (gam, r_gam, scale, eta):
        a.setflags(write=False)
    return gam, r_gam, scale, eta


def _grid_argmin(target: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Index of the first minimum of (r(gam) - target)^2 over the grid, per entry (MATLAB ``min``).

    An entry whose differences are all NaN (undefined fit) gets index 0, as MATLAB's ``min``
    returns the first position when every value is NaN.
    """
    _, r_gam, _, _ = _gamma_table()
    out = np.zeros(target.shape[0], dtype=np.int64)
    for start in range(0, target.shape[0], chunk):
        t = target[start : start + chunk]
        d = (r_gam[None, :] - t[:, None]) ** 2
        nan_rows = np.isnan(t)
        d[nan_rows] = 0.0  # all-NaN rows -> first index
        out[start : start + chunk] = np.argmin(d, axis=1)
    return out


def _aggd_rows(x: np.ndarray):
    """AGGD moment-matching fit of every row of ``x`` (N, n): arrays alpha, beta_l, beta_r, eta."""
    gam, _, scale, eta_c = _gamma_table()
    sq = x * x
    neg, pos = x < 0, x > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        left = np.sqrt(np.where(neg, sq, 0.0).sum(axis=1) / neg.sum(axis=1))
        right = np.sqrt(np.where(pos, sq, 0.0).sum(axis=1) / pos.sum(axis=1))
        g_hat = left / right
        r_hat = np.abs(x).mean(axis=1) ** 2 / sq.mean(axis=1)
        r_norm = r_hat * (g_hat**3 + 1.0) * (g_hat + 1.0) / (g_hat**2 + 1.0) ** 2
    idx = _grid_argmin(r_norm)
    alpha = gam[idx]
    beta_l = left * scale[idx]
    beta_r = right * scale[idx]
    eta = (beta_r - beta_l) * eta_c[idx]
    return alpha, beta_l, beta_r, eta


# ---------------------------------------------------------------------------------------------
# Public distribution fits
# ---------------------------------------------------------------------------------------------


class AGGDFit(NamedTuple):
    """Parameters of an asymmetric generalised Gaussian: shape ``alpha``, scales ``beta_left``, ``beta_right``."""

    alpha: float
    beta_left: float
    beta_right: float

    @property
    def eta(self) -> float:
        """Mean of the AGGD, ``(beta_right - beta_left) Gamma(2/alpha) / Gamma(1/alpha)`` (paper Sec. II-C)."""
        return float((self.beta_right - self.beta_left) * _gamma_fn(2.0 / self.alpha) / _gamma_fn(1.0 / self.alpha))


class GGDFit(NamedTuple):
    """Parameters of a zero-mean generalised Gaussian: shape ``alpha`` and scale ``beta``."""

    alpha: float
    beta: float


def _as_sample(x, name: str) -> np.ndarray:
    if isinstance(x, (bool, np.bool_)) or (isinstance(x, np.ndarray) and x.dtype == bool):
        raise TypeError(f"{name}: expected real numbers, got booleans")
    try:
        arr = np.asarray(x, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected an array of real numbers, got an object of type {type(x).__name__}") from None
    if arr.size < 2:
        raise ValueError(f"{name}: expected at least 2 values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return arr


def fit_aggd(x) -> AGGDFit:
    """Fit an asymmetric generalised Gaussian (AGGD) to the values ``x`` by moment matching.

    This is ``estimateaggdparam.m`` of the official release (paper Sec. II-C, the AGGD density
    ``f(x; alpha, beta_l, beta_r)`` with left and right scales). With ``sigma_l = sqrt(mean x^2 | x<0)``,
    ``sigma_r = sqrt(mean x^2 | x>0)``, ``g = sigma_l / sigma_r`` and ``r = mean(|x|)^2 / mean(x^2)``,
    the shape ``alpha`` is the value of the grid ``0.2:0.001:10`` whose
    ``Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))`` is closest to ``r (g^3+1)(g+1) / (g^2+1)^2``, and
    ``beta_{l,r} = sigma_{l,r} sqrt(Gamma(1/alpha) / Gamma(3/alpha))``. The AGGD mean is ``.eta``.

    ``x`` is any array of finite real numbers (it is flattened). If ``x`` has no negative (or no
    positive) values the fit is undefined: as in MATLAB, ``alpha`` is then 0.2 and the missing
    scale is NaN. Returns an :class:`AGGDFit` ``(alpha, beta_left, beta_right)``.
    Taught in chapter chapters/niqe.md.
    """
    arr = _as_sample(x, "fit_aggd: x")
    alpha, bl, br, _ = _aggd_rows(arr[None, :])
    return AGGDFit(float(alpha[0]), float(bl[0]), float(br[0]))


def fit_ggd(x) -> GGDFit:
    """Fit a zero-mean generalised Gaussian (GGD) to the values ``x`` by moment matching.

    Paper Sec. II-C: ``f(x; alpha, beta) = alpha / (2 beta Gamma(1/alpha)) exp(-(|x|/beta)^alpha)``.
    The shape ``alpha`` is the value of the grid ``0.2:0.001:10`` whose
    ``Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))`` is closest to ``mean(|x|)^2 / mean(x^2)``, and
    ``beta = sqrt(mean(x^2)) sqrt(Gamma(1/alpha) / Gamma(3/alpha))``. Returns :class:`GGDFit`.

    Note: for the two MSCN features the official NIQE code does not call a symmetric GGD fit; it
    calls the AGGD fit and keeps ``alpha`` and ``(beta_left + beta_right) / 2``. :func:`niqe` does
    the same; the two agree exactly when the left and right spreads are equal.
    Taught in chapter chapters/niqe.md.
    """
    arr = _as_sample(x, "fit_ggd: x")
    gam, _, scale, _ = _gamma_table()
    msq = np.mean(arr * arr)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.mean(np.abs(arr)) ** 2 / msq
    i = int(_grid_argmin(np.array([rho]))[0])
    return GGDFit(float(gam[i]), float(np.sqrt(msq) * scale[i]))


# ---------------------------------------------------------------------------------------------
# Image preparation and MSCN
# ---------------------------------------------------------------------------------------------


def _round_half_away(x: np.ndarray) -> np.ndarray:
    # MATLAB round() on non-negative values, saturated to uint8 range as a uint8 cast does.
    return np.clip(np.floor(x + 0.5), 0.0, 255.0)


def _luminance255(image, channel: str, name: str) -> np.ndarray:
    """The 0..255 double grey image MATLAB would compute from the uint8 file of ``image``."""
    check_choice(channel, "channel", _CHANNELS)
    img = as_image(image, name)
    u8 = _round_half_away(np.clip(img, 0.0, 1.0) * 255.0)  # the image as an 8-bit file holds it
    if u8.ndim == 3 and u8.shape[2] == 1:
        u8 = u8[..., 0]
    if u8.ndim == 2:
        return u8
    if channel == "gray":
        return _round_half_away(u8 @ _RGB2GRAY)
    return _round_half_away(u8 @ _RGB2Y + 16.0)


def _mscn255(im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients and local sigma of a 0..255 double image (replicate borders)."""

    def blur(a):
        return correlate1d(correlate1d(a, _G1D, axis=0, mode="nearest"), _G1D, axis=1, mode="nearest")

    mu = blur(im)
    sigma = np.sqrt(np.abs(blur(im * im) - mu * mu))
    return (im - mu) / (sigma + 1.0), sigma


def mscn(image, *, channel: str = "gray", return_sigma: bool = False):
    """Mean-subtracted contrast-normalised (MSCN) coefficients of ``image``, as NIQE computes them.

    Paper Sec. II-A: ``I_hat = (I - mu) / (sigma + 1)``, where ``mu`` and
    ``sigma = sqrt(|sum w I^2 - mu^2|)`` are local Gaussian-weighted mean and standard deviation
    (window ``fspecial('gaussian', 7, 7/6)``, replicated borders) of the luminance ``I`` on a 0..255
    scale (``channel`` "gray": MATLAB ``rgb2gray``; "y": BT.601 Y; 8-bit rounded as in
    :func:`niqe`). ``image``: float (H, W) or (H, W, 3) in [0, 1]. The image is not cropped.

    Returns the (H, W) MSCN map, or ``(mscn, sigma)`` with ``return_sigma=True`` (``sigma`` is the
    map whose block means are the sharpness of :func:`fit_pristine_model`).
    Taught in chapter chapters/niqe.md.
    """
    lum = _luminance255(image, channel, "mscn: image")
    out, sigma = _mscn255(lum)
    return (out, sigma) if return_sigma else out


# ---------------------------------------------------------------------------------------------
# Block features
# ---------------------------------------------------------------------------------------------


def _blocks(a: np.ndarray, b: int) -> np.ndarray:
    """Non-overlapping b x b blocks of ``a`` (a multiple of b), in MATLAB's column-major block order."""
    nr, nc = a.shape[0] // b, a.shape[1] // b
    return a[: nr * b, : nc * b].reshape(nr, b, nc, b).transpose(2, 0, 1, 3).reshape(nr * nc, b, b)


def _scale_features(structdis: np.ndarray, b: int) -> np.ndarray:
    """computefeature.m for every b x b block at once: an (N, 18) matrix."""
    blocks = _blocks(structdis, b)
    n = blocks.shape[0]
    feats = np.empty((n, 18))
    alpha, bl, br, _ = _aggd_rows(blocks.reshape(n, -1))
    feats[:, 0] = alpha
    feats[:, 1] = (bl + br) / 2.0
    for k, shift in enumerate(_SHIFTS):
        pair = blocks * np.roll(blocks, shift, axis=(1, 2))  # circshift inside each block
        alpha, bl, br, eta = _aggd_rows(pair.reshape(n, -1))
        feats[:, 2 + 4 * k : 6 + 4 * k] = np.stack([alpha, eta, bl, br], axis=1)
    return feats


def _check_block_size(block_size) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral):
        raise TypeError(f"block_size: expected an even integer >= 8, got {block_size!r}")
    if block_size < 8 or block_size % 2:
        raise ValueError(f"block_size: expected an even integer >= 8 (scale 2 uses half blocks), got {block_size!r}")
    return int(block_size)


def _features255(im: np.ndarray, b: int, min_blocks: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Official per-block features (N, 36) and sharpness (N,) of a 0..255 grey image."""
    h, w = im.shape
    nr, nc = h // b, w // b
    if nr * nc < min_blocks:
        if min_blocks <= 1:
            need = f"at least {b}x{b} pixels"
        else:
            need = f"at least {min_blocks} blocks of {b}x{b}, i.e. at least {b}x{2 * b} or {2 * b}x{b} pixels (HxW)"
        raise ValueError(f"{name}: image too small for NIQE: it needs {need}, got {h}x{w}")
    im = im[: nr * b, : nc * b]
    structdis, sigma = _mscn255(im)
    sharpness = _blocks(sigma, b).mean(axis=(1, 2))
    f1 = _scale_features(structdis, b)
    im2 = imresize(im, 0.5, antialias=True, value_range=None)  # MATLAB imresize(im, 0.5)
    structdis2, _ = _mscn255(im2)
    f2 = _scale_features(structdis2, b // 2)
    return np.concatenate([f1, f2], axis=1), sharpness


def niqe_features(image, *, channel: str = "gray", block_size: int = _DEFAULT_BLOCK, return_sharpness: bool = False):
    """Per-block NIQE features of ``image``: an (N, 36) matrix, one row per block.

    The image (float (H, W) or (H, W, 3) in [0, 1]) becomes 8-bit luminance on 0..255 (``channel``
    as in :func:`niqe`), is cropped to a multiple of ``block_size`` and cut into non-overlapping
    blocks; rows follow MATLAB's column-major block order (down the first block column first).
    Columns (:data:`NIQE_FEATURE_NAMES`, paper Sec. II-C), for scale 1 then for the image halved by
    antialiased bicubic resizing (blocks of ``block_size / 2``):
    MSCN GGD ``alpha`` and ``beta``, then for the horizontal, vertical, main- and anti-diagonal
    neighbour products the AGGD ``alpha``, mean ``eta``, ``beta_l``, ``beta_r``.

    A block whose fit is undefined (e.g. a flat block) yields NaN in some columns, as in MATLAB.
    With ``return_sharpness=True`` also returns the (N,) block sharpness, the mean of the local
    ``sigma`` map over each block at scale 1 (paper Sec. II-B).
    Taught in chapter chapters/niqe.md.
    """
    b = _check_block_size(block_size)
    lum = _luminance255(image, channel, "niqe_features: image")
    feats, sharp = _features255(lum, b, 1, "niqe_features")
    return (feats, sharp) if return_sharpness else feats


# ---------------------------------------------------------------------------------------------
# MVG model and distance
# ---------------------------------------------------------------------------------------------


def _nanmean_nancov(feats: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB nanmean (column-wise) and nancov (complete rows, N - 1 normalisation)."""
    complete = ~np.isnan(feats).any(axis=1)
    if complete.sum() < 2:
        raise ValueError(
            f"{name}: fewer than 2 blocks have well-defined features ({int(complete.sum())} of {feats.shape[0]}); "
            "the image is too flat or too small for NIQE"
        )
    mu = np.nanmean(feats, axis=0)
    cov = np.cov(feats[complete], rowvar=False)
    return mu, cov


def _pinv_matlab(a: np.ndarray) -> np.ndarray:
    """MATLAB pinv: singular values below max(size) * eps(max singular value) are dropped."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    if s.size == 0 or not np.isfinite(s).all():
        raise ValueError("niqe: covariance contains NaN or infinite values")
    tol = max(a.shape) * np.spacing(s.max())
    keep = s > tol
    return (vt[keep].T / s[keep]) @ u[:, keep].T


@functools.lru_cache(maxsize=1)
def _official_model() -> tuple[np.ndarray, np.ndarray]:
    try:
        ref = importlib.resources.files(__package__).joinpath(MODEL_FILE)
        with ref.open("rb") as f:
            data = np.load(f, allow_pickle=False)
            mu, cov = data["mu_prisparam"], data["cov_prisparam"]
    except (FileNotFoundError, ModuleNotFoundError, TypeError):  # pragma: no cover - unusual installs
        with np.load(Path(__file__).resolve().with_name(MODEL_FILE), allow_pickle=False) as data:
            mu, cov = data["mu_prisparam"], data["cov_prisparam"]
    mu, cov = np.asarray(mu, dtype=np.float64).reshape(36), np.asarray(cov, dtype=np.float64)
    mu.setflags(write=False)
    cov.setflags(write=False)
    return mu, cov


def load_pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """The official pristine NIQE model ``(mu, cov)``, shapes (36,) and (36, 36).

    Fitted by the authors on 125 pristine images (paper Sec. II-D); (c) 2011 UT Austin, see
    ``NIQE_MODEL_NOTICE.txt`` next to this module. Returns copies.
    Taught in chapter chapters/niqe.md.
    """
    mu, cov = _official_model()
    return mu.copy(), cov.copy()


def _check_model(model) -> tuple[np.ndarray, np.ndarray]:
    if model is None:
        return _official_model()
    if not isinstance(model, (tuple, list)) or len(model) != 2:
        raise TypeError(f"niqe: model must be None or a pair (mu, cov) of arrays of shapes (36,) and (36, 36), got {type(model).__name__}")
    try:
        mu = np.asarray(model[0], dtype=np.float64)
        cov = np.asarray(model[1], dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("niqe: model must be a pair (mu, cov) of real arrays") from None
    if mu.size != 36 or mu.ndim > 2:
        raise ValueError(f"niqe: model mu must have shape (36,) (or (1, 36)), got {mu.shape}")
    if cov.shape != (36, 36):
        raise ValueError(f"niqe: model cov must have shape (36, 36), got {cov.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
        raise ValueError("niqe: model contains NaN or infinite values")
    return mu.reshape(36), cov


def niqe(image, *, channel: str = "gray", model=None, block_size: int = _DEFAULT_BLOCK) -> float:
    """NIQE score of ``image`` (lower means more natural), as the official MATLAB ``computequality``.

    ``image``: float numpy array (or torch tensor) of shape (H, W) or (H, W, 3) with values in
    [0, 1]; it is first rounded to 8 bits, as the image files of the official scores were.
    ``channel``: "gray" uses MATLAB ``rgb2gray`` (0.2989 R + 0.5870 G + 0.1140 B, rounded; MATLAB
    and this port use the unrounded weights 0.298936..., 0.587043..., 0.114021...), the official choice; "y" uses the BT.601 Y of MATLAB ``rgb2ycbcr`` (16 + 65.481 R + 128.553 G +
    24.966 B on [0, 1] values, rounded), the convention of BasicSR and super-resolution papers.
    A 2-D image is used as it is. The image must hold at least two blocks (96x192 or 192x96).

    Features of every 96x96 block (:func:`niqe_features`) give the test MVG (paper Sec. II-D):
    ``nu2 = nanmean``, ``Sigma2 = nancov``. The score is the NIQE index (Sec. II-E)
    ``sqrt((nu1 - nu2)^T pinv((Sigma1 + Sigma2) / 2) (nu1 - nu2))`` against the pristine model
    ``(nu1, Sigma1)``: the official one by default (:func:`load_pristine_model`), or ``model=(mu, cov)``
    from :func:`fit_pristine_model` (``block_size`` must then match the one used to fit it).
    Taught in chapter chapters/niqe.md.
    """
    b = _check_block_size(block_size)
    mu_p, cov_p = _check_model(model)
    lum = _luminance255(image, channel, "niqe: image")
    feats, _ = _features255(lum, b, 2, "niqe")
    mu_d, cov_d = _nanmean_nancov(feats, "niqe")
    d = mu_p - mu_d
    q = float(d @ _pinv_matlab((cov_p + cov_d) / 2.0) @ d)
    return float(np.sqrt(max(q, 0.0)))


def fit_pristine_model(
    images,
    *,
    sharpness_threshold: float = 0.75,
    block_size: int = _DEFAULT_BLOCK,
    channel: str = "gray",
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a pristine NIQE model ``(mu, cov)`` to a list of images, as ``estimatemodelparam.m``.

    Each image (float (H, W) or (H, W, 3) in [0, 1], at least ``block_size`` square) is converted
    and cut into blocks as in :func:`niqe_features`. Patch selection (paper Sec. II-B): a block is
    kept only if its sharpness, the mean of the local ``sigma`` map over the block, exceeds
    ``sharpness_threshold`` times the largest block sharpness of the same image. The kept feature
    rows of all images give the MVG model (Sec. II-D): ``mu = nanmean`` (36,) and
    ``cov = nancov`` (36, 36). Pass the result to ``niqe(image, model=(mu, cov))``.
    Taught in chapter chapters/niqe.md.
    """
    b = _check_block_size(block_size)
    if isinstance(images, np.ndarray) or type(images).__module__.startswith("torch") or isinstance(images, (str, bytes)):
        raise TypeError("fit_pristine_model: images must be a list of images, not a single array")
    try:
        images = list(images)
    except TypeError:
        raise TypeError(f"fit_pristine_model: images must be a list of images, got {type(images).__name__}") from None
    if not images:
        raise ValueError("fit_pristine_model: images is empty; expected at least one image")
    if isinstance(sharpness_threshold, bool) or not isinstance(sharpness_threshold, numbers.Real):
        raise TypeError(f"sharpness_threshold: expected a number in [0, 1), got {sharpness_threshold!r}")
    if not 0.0 <= sharpness_threshold < 1.0:
        raise ValueError(f"sharpness_threshold: expected a number in [0, 1), got {sharpness_threshold!r}")
    rows = []
    for i, img in enumerate(images):
        lum = _luminance255(img, channel, f"fit_pristine_model: images[{i}]")
        feats, sharp = _features255(lum, b, 1, f"fit_pristine_model: images[{i}]")
        rows.append(feats[sharp > sharpness_threshold * sharp.max()])
    return _nanmean_nancov(np.concatenate(rows, axis=0), "fit_pristine_model")
