"""VMAF in miniature: the elementary features, a synthetic video, and real VMAF through ffmpeg.

Taught in the VMAF chapter (``chapters/vmaf.md``). VMAF (Netflix, 2016) is a *full-reference*
video metric: it compares a distorted video with its reference, frame by frame, through elementary
features, and fuses them with a nu-SVR trained on subjective scores. The model ``vmaf_v0.6.1``
uses six features: an additive-impairment / detail-loss measure (``adm2``), visual information
fidelity at four scales (``vif_scale0..3``) and a temporal feature (``motion2``) computed on the
reference only.

What lives here:

- :func:`vif_scales`: VIF (Sheikh & Bovik 2006) at four scales as VMAF computes it (Gaussian windows
  of 17, 9, 5, 3 taps with sigma = taps / 5, filter-and-halve between scales, noise variance 2 on
  the 0-255 scale), per scale the ratio of the summed information terms.
- :func:`detail_loss`: an ADM-like detail-loss measure (db2 wavelet, 4 levels, ADM's decoupling of
  the distorted coefficients into a restored part and an additive impairment), without ADM's
  contrast-sensitivity weighting and masking: the book's simplification, stated.
- :func:`motion`: VMAF's motion, the mean absolute difference of consecutive luma frames blurred
  with the 5-tap filter ``MOTION_FILTER``, and ``motion2`` = min of the differences with the
  previous and the next frame.
- :func:`synthetic_video`: a pan and zoom over a packaged photo with a moving disc, as 8-bit luma.
- :func:`real_vmaf` and :func:`x264`: real VMAF (libvmaf, model ``vmaf_v0.6.1``) and real H.264
  encodes from the ffmpeg binary of the ``imageio-ffmpeg`` wheel, run offline on y4m files in a
  temporary folder.
"""
from __future__ import annotations

import functools
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from .checks import check_in_range, check_positive

__all__ = [
    "MOTION_FILTER",
    "VIF_SIGMA_NSQ",
    "ffmpeg_exe",
    "synthetic_video",
    "write_y4m",
    "read_y4m",
    "vif_scales",
    "detail_loss",
    "motion",
    "frame_features",
    "adm_csf_weight",
    "adm_dwt2",
    "adm_decouple",
    "adm_masking_threshold",
    "adm_scales",
    "adm2",
    "VMAF_MODEL_PATH",
    "VMAF_FEATURES",
    "load_vmaf_model",
    "vmaf_predict",
    "vmaf_score",
    "real_vmaf",
    "real_vmaf_images",
    "x264",
]

#: VMAF's motion blur filter (separable, 5 taps)
MOTION_FILTER = np.array([0.0545, 0.2442, 0.4026, 0.2442, 0.0545])
#: VIF's variance of the visual noise, on the 0-255 scale
VIF_SIGMA_NSQ = 2.0
#: libvmaf's constant for locally flat reference patches: sigma_nsq^2 / 255^2 = 4 / 255^2
VIF_SIGMA_MAX_INV = VIF_SIGMA_NSQ**2 / 255.0**2
#: libvmaf's limit on VIF's gain g (its default, 100: enhancement is hardly limited)
VIF_ENHN_GAIN_LIMIT = 100.0


def _check_video(v, name: str, *, min_size: int = 16, even: bool = True) -> np.ndarray:
    if not isinstance(v, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array (T, H, W) of 8-bit luma, got {type(v).__name__}")
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3:
        raise ValueError(f"{name}: expected shape (T, H, W) (frames of luma) or (H, W), got {v.shape}")
    if v.dtype != np.uint8:
        raise TypeError(f"{name}: expected dtype uint8 (luma 0..255), got {v.dtype}; use np.round(x * 255).astype(np.uint8)")
    if min(v.shape[1:]) < min_size:
        raise ValueError(f"{name}: frames must be at least {min_size}x{min_size}, got {v.shape[1]}x{v.shape[2]}")
    if even and (v.shape[1] % 2 or v.shape[2] % 2):
        raise ValueError(f"{name}: height and width must be even (4:2:0 video), got {v.shape[1]}x{v.shape[2]}")
    return v


def _check_pair(ref, dist, *, even: bool = True):
    ref, dist = _check_video(ref, "ref", even=even), _check_video(dist, "dist", even=even)
    if ref.shape != dist.shape:
        raise ValueError(f"ref and dist must have the same shape (T, H, W), got {ref.shape} and {dist.shape}")
    return ref, dist


# ------------------------------------------------------------------------------------------------
# A synthetic video


def synthetic_video(name: str = "astronaut", n_frames: int = 16, size: int = 64, *, speed: float = 1.0,
                    zoom: float = 0.01, disc: bool = True) -> np.ndarray:
    """A pan and zoom over packaged photo ``name`` with a bright moving disc, as uint8 luma (T, size, size).

    The camera window starts at twice ``size`` pixels of the photo (centred), pans right by
    ``2 * speed`` photo pixels per frame and narrows by ``zoom * min(speed, 1)`` per frame; the disc (radius
    ``size / 8``, soft edge) crosses the frame at ``1.5 * speed`` pixels per frame. ``speed=0`` gives
    a still video (the same frame ``n_frames`` times). Deterministic (no randomness). Chapter ``vmaf``.
    """
    from scipy.ndimage import map_coordinates

    from .data import load_image

    check_positive(n_frames, "n_frames", integer=True)
    check_positive(size, "size", integer=True)
    check_positive(speed, "speed", allow_zero=True)
    check_in_range(zoom, "zoom", 0.0, 0.05)
    if size < 16 or size % 2:
        raise ValueError(f"synthetic_video: size must be even and at least 16, got {size}")
    img = load_image(name, gray=True)
    h, w = img.shape
    span = 2.0 * size
    need = span + 2 * speed * n_frames + 4
    if need > w or span + 4 > h:
        raise ValueError(f"synthetic_video: photo {name!r} ({h}x{w}) is too small for size {size} at speed {speed}")
    cy, cx0 = h / 2.0, (w - 2 * speed * (n_frames - 1)) / 2.0
    grid = (np.arange(size) + 0.5) / size - 0.5  # -0.5..0.5
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    frames = []
    for t in range(n_frames):
        scale = span * (1.0 - zoom * min(speed, 1.0) * t)
        ys, xs = cy + yy * scale, cx0 + 2 * speed * t + xx * scale
        f = map_coordinates(img, [ys, xs], order=3, mode="reflect")
        if disc:
            dx = (size * 0.2 + 1.5 * speed * t) % size
            r = np.hypot(np.arange(size)[:, None] - size * 0.55, np.arange(size)[None, :] - dx)
            alpha = np.clip(size / 8 - r + 0.5, 0, 1)
            f = (1 - alpha) * f + alpha * 0.92
        frames.append(f)
    return np.clip(np.round(np.stack(frames) * 255), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# y4m files and the ffmpeg binary


def write_y4m(path, frames: np.ndarray, fps: int = 25) -> None:
    """Write uint8 luma frames (T, H, W) as a 4:2:0 y4m file with neutral chroma (grey video)."""
    frames = _check_video(frames, "frames")
    t, h, w = frames.shape
    chroma = np.full((h // 2) * (w // 2) * 2, 128, np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for fr in frames:
            f.write(b"FRAME\n")
            f.write(np.ascontiguousarray(fr).tobytes())
            f.write(chroma)


def read_y4m(path) -> np.ndarray:
    """Read the luma planes of an 8-bit 4:2:0 y4m file as uint8 (T, H, W)."""
    data = Path(path).read_bytes()
    head, _, rest = data.partition(b"\n")
    if not head.startswith(b"YUV4MPEG2"):
        raise ValueError(f"read_y4m: {path} is not a y4m file")
    fields = {tok[:1]: tok[1:] for tok in head.split()[1:]}
    w, h = int(fields[b"W"]), int(fields[b"H"])
    cs = fields.get(b"C", b"420").decode()
    if not cs.startswith("420"):
        raise ValueError(f"read_y4m: only 8-bit 4:2:0 is supported, got colour space {cs}")
    size = w * h + 2 * (w // 2) * (h // 2)
    frames, pos = [], 0
    while pos < len(rest):
        end = rest.index(b"\n", pos)
        pos = end + 1
        frames.append(np.frombuffer(rest, np.uint8, w * h, pos).reshape(h, w))
        pos += size
    return np.stack(frames)


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped in the ``imageio-ffmpeg`` wheel, after checking it has libvmaf."""
    try:
        import imageio_ffmpeg
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise RuntimeError("ffmpeg_exe: install imageio-ffmpeg (pip install imageio-ffmpeg); it ships ffmpeg with libvmaf") from e
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    out = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True, check=True).stdout
    if " libvmaf " not in out:
        raise RuntimeError(f"ffmpeg_exe: {exe} was built without libvmaf; real VMAF is not available")
    return exe


def _run(args, cwd) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                         cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({' '.join(args)}): {res.stderr.strip()[-800:]}")
    return time.perf_counter() - t0


def real_vmaf(ref: np.ndarray, dist: np.ndarray, *, motion_force_zero: bool = False,
              float_features: bool = False) -> dict:
    """Real VMAF (libvmaf, model ``vmaf_v0.6.1``) of ``dist`` against ``ref``, both uint8 luma (T, H, W).

    Runs the ffmpeg of ``imageio-ffmpeg`` offline on y4m files in a temporary folder. Returns a dict
    of per-frame numpy arrays, libvmaf's names: ``vmaf``, ``integer_adm2``, ``integer_motion2``,
    ``integer_vif_scale0..3`` (and the others it logs), plus ``seconds`` (wall time of the ffmpeg
    call). ``motion_force_zero=True`` sets the motion feature to 0 inside the model (libvmaf's
    ``motion.motion_force_zero`` option): the same score without temporal masking.
    ``float_features=True`` also runs libvmaf's floating-point extractors (``float_adm``,
    ``float_vif``, ``float_motion``), logged as ``adm2``, ``vif_scale0..3``, ``motion2``, ...; the model
    itself always uses the fixed-point ``integer_*`` ones. Chapter ``vmaf``.
    """
    ref, dist = _check_pair(ref, dist)
    model = "version=vmaf_v0.6.1" + (r"\:motion.motion_force_zero=true" if motion_force_zero else "")
    extra = ":feature='name=float_adm|name=float_vif|name=float_motion'" if float_features else ""
    with tempfile.TemporaryDirectory(prefix="vmaf_") as tmp:
        write_y4m(Path(tmp) / "ref.y4m", ref)
        write_y4m(Path(tmp) / "dist.y4m", dist)
        seconds = _run(["-i", "dist.y4m", "-i", "ref.y4m", "-lavfi",
                        f"[0:v][1:v]libvmaf=log_fmt=json:log_path=vmaf.json:n_threads=1:model='{model}'" + extra,
                        "-f", "null", "-"], tmp)
        log = json.loads((Path(tmp) / "vmaf.json").read_text())
    frames = log["frames"]
    out = {k: np.array([fr["metrics"][k] for fr in frames]) for k in frames[0]["metrics"]}
    out["seconds"] = seconds
    return out


def real_vmaf_images(references, distorted) -> np.ndarray:
    """Official VMAF (real libvmaf) of N still-image pairs in one ffmpeg call: returns (N,) scores.

    ``references`` and ``distorted``: (N, H, W) luma, uint8 or float in [0, 1] (quantised to 8
    bits), even H and W. The pairs are passed as the frames of one clip with the motion feature
    forced to zero (a still image has no motion; without it consecutive *different* references would
    count as motion). For colour images pass BT.601 luma, e.g. ``rgb @ [0.299, 0.587, 0.114]``.
    """
    ref, dist = _as_luma8(references, "references"), _as_luma8(distorted, "distorted")
    return real_vmaf(ref, dist, motion_force_zero=True)["vmaf"]


def x264(ref: np.ndarray, crf: int, *, downscale: int = 1, preset: str = "veryfast") -> tuple[np.ndarray, float]:
    """Encode uint8 luma frames with libx264 at constant rate factor ``crf`` (0..51) and decode them.

    ``downscale`` > 1 shrinks the video by that factor (bicubic) before encoding and scales the
    decoded video back up (bicubic), as a streaming ladder does. Returns ``(decoded, seconds)``:
    decoded uint8 (T, H, W), seconds of the two ffmpeg calls. Chapter ``vmaf``.
    """
    ref = _check_video(ref, "ref")
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)):
        raise TypeError(f"x264: crf must be an integer in [0, 51], got {crf!r}")
    check_in_range(int(crf), "crf", 0, 51)
    check_positive(downscale, "downscale", integer=True)
    _, h, w = ref.shape
    if downscale > 1 and (h % (2 * downscale) or w % (2 * downscale)):
        raise ValueError(f"x264: frame size {h}x{w} must be a multiple of {2 * downscale} to downscale by {downscale}")
    with tempfile.TemporaryDirectory(prefix="x264_") as tmp:
        write_y4m(Path(tmp) / "ref.y4m", ref)
        down = ["-vf", f"scale={w // downscale}:{h // downscale}:flags=bicubic"] if downscale > 1 else []
        s = _run(["-i", "ref.y4m", *down, "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)),
                  "-threads", "1", "-pix_fmt", "yuv420p", "enc.mp4"], tmp)
        up = ["-vf", f"scale={w}:{h}:flags=bicubic"] if downscale > 1 else []
        s += _run(["-i", "enc.mp4", *up, "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "dec.y4m"], tmp)
        dec = read_y4m(Path(tmp) / "dec.y4m")
    if dec.shape != ref.shape:
        raise RuntimeError(f"x264: decoded {dec.shape}, expected {ref.shape}")
    return dec, s


# ------------------------------------------------------------------------------------------------
# The elementary features


def _gauss(n: int) -> np.ndarray:
    sigma = n / 5.0
    x = np.arange(n) - (n - 1) / 2.0
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _filt(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    from scipy.ndimage import convolve1d

    return convolve1d(convolve1d(img, k, axis=-1, mode="mirror"), k, axis=-2, mode="mirror")


def vif_scales(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """VIF at VMAF's four scales for each frame: (T, 4), each in [0, ~1] (1 = no loss of information).

    Sheikh & Bovik's pixel-domain VIF as VMAF computes it: at scale s (0..3) a Gaussian window of
    ``2**(4 - s) + 1`` taps (sigma = taps / 5); before scales 1-3 both frames are filtered with that
    window and halved. Local means, variances and covariance give the gain ``g = s12 / s1^2`` and
    the distortion variance ``sv^2 = s2^2 - g s12``; the scale's value is
    ``sum log2(1 + g^2 s1^2 / (sv^2 + sn^2)) / sum log2(1 + s1^2 / sn^2)`` with ``sn^2 = 2``
    (0-255 scale), VMAF's per-scale ratio, g limited to 100; as in libvmaf, at positions where the
    reference is locally flat (``s1^2 < sn^2``) the two log terms are replaced by
    ``1 - s2^2 * 4 / 255^2`` (libvmaf's ``sigma_max_inv = sn^4 / 255^2``) and ``1``.
    Borders are mirrored. The chapter measures the agreement with libvmaf's own values. Chapter ``vmaf``.
    """
    ref, dist = _check_pair(ref, dist, even=False)
    a, b = ref.astype(np.float64), dist.astype(np.float64)
    out = np.zeros((a.shape[0], 4))
    eps = 1e-10
    for s in range(4):
        k = _gauss(2 ** (4 - s) + 1)
        if s > 0:
            a, b = _filt(a, k)[:, ::2, ::2], _filt(b, k)[:, ::2, ::2]
        mu1, mu2 = _filt(a, k), _filt(b, k)
        s1 = np.maximum(_filt(a * a, k) - mu1 * mu1, 0)
        s2 = np.maximum(_filt(b * b, k) - mu2 * mu2, 0)
        s12 = _filt(a * b, k) - mu1 * mu2
        g = s12 / (s1 + eps)
        sv = s2 - g * s12
        flat1 = s1 < eps
        g[flat1], sv[flat1], s1[flat1] = 0, s2[flat1], 0
        flat2 = s2 < eps
        g[flat2], sv[flat2] = 0, 0
        neg = g < 0
        sv[neg], g[neg] = s2[neg], 0
        sv = np.maximum(sv, eps)
        g = np.minimum(g, VIF_ENHN_GAIN_LIMIT)
        # where the reference is locally flat (variance below the noise variance) libvmaf replaces
        # the log terms by 1 - s2^2 * sigma_max_inv (numerator) and 1 (denominator), with
        # sigma_max_inv = sigma_n^4 / 255^2 = 4 / 255^2
        flat = s1 < VIF_SIGMA_NSQ
        num = np.where(flat, 1.0 - s2 * VIF_SIGMA_MAX_INV, np.log2(1 + g * g * s1 / (sv + VIF_SIGMA_NSQ))).sum(axis=(1, 2))
        den = np.where(flat, 1.0, np.log2(1 + s1 / VIF_SIGMA_NSQ)).sum(axis=(1, 2))
        out[:, s] = num / den
    return out


def detail_loss(ref: np.ndarray, dist: np.ndarray, *, levels: int = 4, border: float = 0.1) -> np.ndarray:
    """An ADM-like detail measure per frame, (T,), in [0, ~1] (1 = every reference detail kept).

    Both frames are decomposed with the db2 wavelet (``levels`` levels, three orientations). As in
    ADM, each distorted detail coefficient ``d`` is split against the reference coefficient ``o`` into
    a *restored* part ``r = clip(d / o, 0, 1) o`` (the detail that survived; where the two differ in
    sign nothing survived) and an additive impairment ``d - r``, which is ignored. The score is
    ``sum_(level, orientation) ||r||_3 / sum_(level, orientation) ||o||_3`` over the interior
    (``border`` of each side dropped). Unlike ADM there is no contrast-sensitivity weighting and no
    contrast masking: it measures *lost* detail only. Chapter ``vmaf``.
    """
    import pywt

    ref, dist = _check_pair(ref, dist)
    check_positive(levels, "levels", integer=True)
    check_in_range(border, "border", 0.0, 0.4)
    out = np.zeros(ref.shape[0])
    for i, (fa, fb) in enumerate(zip(ref.astype(np.float64), dist.astype(np.float64))):
        ca = pywt.wavedec2(fa, "db2", mode="periodization", level=levels)[1:]
        cb = pywt.wavedec2(fb, "db2", mode="periodization", level=levels)[1:]
        num = den = 0.0
        for la, lb in zip(ca, cb):
            for o, d in zip(la, lb):
                h, w = o.shape
                bh, bw = int(border * h), int(border * w)
                o, d = o[bh : h - bh or None, bw : w - bw or None], d[bh : h - bh or None, bw : w - bw or None]
                k = np.clip(np.divide(d, o, out=np.zeros_like(d), where=np.abs(o) > 1e-12), 0.0, 1.0)
                num += np.cbrt((np.abs(k * o) ** 3).sum())
                den += np.cbrt((np.abs(o) ** 3).sum())
        out[i] = num / den if den > 0 else 1.0
    return out


def motion(ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VMAF's motion of a (reference) video, uint8 luma (T, H, W): returns ``(motion, motion2)``, each (T,).

    Each frame is blurred with ``MOTION_FILTER`` along both axes (mirrored borders);
    ``motion[i]`` is the mean absolute difference between blurred frames i and i-1 (0 for the first
    frame), on the 0-255 scale; ``motion2[i] = min(motion[i], motion[i+1])`` (``motion[i]`` for the
    last frame), the feature of ``vmaf_v0.6.1``. Chapter ``vmaf``.
    """
    ref = _check_video(ref, "ref", even=False)
    blur = _filt(ref.astype(np.float64), MOTION_FILTER)
    m = np.zeros(ref.shape[0])
    m[1:] = np.abs(np.diff(blur, axis=0)).mean(axis=(1, 2))
    m2 = m.copy()
    m2[:-1] = np.minimum(m[:-1], m[1:])
    return m, m2


def frame_features(ref: np.ndarray, dist: np.ndarray) -> dict:
    """The six per-frame features of ``vmaf_v0.6.1``, computed by the book: ``adm2`` (:func:`adm2`),
    ``motion2`` (:func:`motion` of ``ref``) and ``vif_scale0..3`` (:func:`vif_scales`); each (T,).
    (Before the full ADM, this returned the simplified :func:`detail_loss` under ``adm``.)"""
    ref, dist = _check_pair(ref, dist, even=False)
    v = vif_scales(ref, dist)
    return {"adm2": adm2(ref, dist), "motion2": motion(ref)[1], **{f"vif_scale{s}": v[:, s] for s in range(4)}}


# ------------------------------------------------------------------------------------------------
# ADM (libvmaf's adm2), in full


#: Daubechies-2 analysis filters as libvmaf's ADM applies them (low-pass, high-pass)
ADM_DB2_LO = np.array([0.482962913144690, 0.836516303737469, 0.224143868041857, -0.129409522550921])
ADM_DB2_HI = np.array([-0.129409522550921, -0.224143868041857, 0.836516303737469, -0.482962913144690])
#: share of each side of a sub-band that ADM leaves out of its sums
ADM_BORDER_FACTOR = 0.1
#: libvmaf's default viewing set-up: distance of 3 picture heights from a 1080-line display
ADM_VIEW_DIST, ADM_DISPLAY_HEIGHT = 3.0, 1080
#: the enhancement-gain limit (libvmaf's default: 100, effectively no limit)
ADM_ENHN_GAIN_LIMIT = 100.0
#: weight of the noise floor added to each sub-band's norm: (area * weight)^(1/3)
ADM_NOISE_WEIGHT = 1.0 / 32.0
# Watson, Yang, Solomon & Villasenor (1997), luma thresholds of the 7/9 wavelet: a, k, f0, g[theta]
_WATSON_A, _WATSON_K, _WATSON_F0 = 0.495, 0.466, 0.401
_WATSON_G = (1.501, 1.0, 0.534, 1.0)
# basis-function amplitudes A[level][theta] (theta 0 ll, 1 lh/hl, 2 hh, 3 hl) of the same paper, Table V
_WATSON_AMP = np.array([[0.62171, 0.67234, 0.72709, 0.67234], [0.34537, 0.41317, 0.49428, 0.41317],
                        [0.18004, 0.22727, 0.28688, 0.22727], [0.091401, 0.11792, 0.15214, 0.11792]])


def adm_csf_weight(level: int, theta: int) -> float:
    """ADM's contrast-sensitivity weight of a wavelet sub-band: 1 / (Watson et al.'s visibility threshold).

    ``level`` 0 (finest) .. 3, ``theta`` 1 (horizontal / vertical details) or 2 (diagonal). The
    threshold is ``Q = 2 a 10^(k (log10(2^(level+1) f0 g_theta / r))^2) / A[level][theta]`` with
    ``r = 3 * 1080 * pi / 180`` pixels per degree (libvmaf's default viewing set-up). Chapter ``vmaf``.
    """
    if level not in range(4) or theta not in (1, 2):
        raise ValueError(f"adm_csf_weight: level must be 0..3 and theta 1 or 2, got level={level}, theta={theta}")
    r = ADM_VIEW_DIST * ADM_DISPLAY_HEIGHT * np.pi / 180.0
    t = np.log10(2.0 ** (level + 1) * _WATSON_F0 * _WATSON_G[theta] / r)
    q = 2.0 * _WATSON_A * 10.0 ** (_WATSON_K * t * t) / _WATSON_AMP[level, theta]
    return float(1.0 / q)


def _dwt_index(n: int) -> np.ndarray:
    """Source rows of ADM's four-tap filter for each of the ceil(n/2) outputs (libvmaf's border rule)."""
    m = (n + 1) // 2
    idx = 2 * np.arange(m)[:, None] - 1 + np.arange(4)[None, :]
    idx = np.where(idx < 0, -idx, idx)
    return np.where(idx >= n, 2 * n - idx - 1, idx)


def adm_dwt2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One level of ADM's db2 wavelet transform of frames ``x`` (T, H, W), as libvmaf computes it.

    Returns ``(a, h, v, d)``, each (T, ceil(H/2), ceil(W/2)): ``a`` low-pass in both directions,
    ``h`` high-pass vertically (horizontal edges), ``v`` high-pass horizontally, ``d`` both. Output i
    filters input rows 2i-1 .. 2i+2, reflected at the borders as libvmaf does. Chapter ``vmaf``.
    """
    iy, ix = _dwt_index(x.shape[1]), _dwt_index(x.shape[2])
    rows = x[:, iy, :]                                   # (T, H2, 4, W)
    lo = np.einsum("tifw,f->tiw", rows, ADM_DB2_LO)
    hi = np.einsum("tifw,f->tiw", rows, ADM_DB2_HI)
    lo_c, hi_c = lo[:, :, ix], hi[:, :, ix]              # (T, H2, W2, 4)
    return (lo_c @ ADM_DB2_LO, hi_c @ ADM_DB2_LO, lo_c @ ADM_DB2_HI, hi_c @ ADM_DB2_HI)


def adm_decouple(o: tuple, t: tuple) -> tuple[tuple, tuple]:
    """ADM's decoupling of the distorted sub-bands ``t = (h, v, d)`` against the reference's ``o``.

    The restored part is ``r = clip(t / o, 0, 1) * o`` (the reference detail that survived); where
    the orientation of the (h, v) pair is unchanged (within 1 degree, and the same half-plane) the
    distorted coefficient counts as restored up to the enhancement-gain limit
    (``r = min(r * 100, t)`` for positive ``r``, ``max`` for negative). The additive impairment
    is ``a = t - r``. Returns ``(r, a)``, each a tuple (h, v, d). Chapter ``vmaf``.
    """
    cos1_sq = np.cos(np.pi / 180.0) ** 2
    oh, ov, _ = o
    th, tv, _ = t
    dot = oh * th + ov * tv
    same_angle = (dot >= 0) & (dot * dot >= cos1_sq * (oh * oh + ov * ov) * (th * th + tv * tv))
    r_out, a_out = [], []
    for ob, tb in zip(o, t):
        den = ob + 1e-30
        k = np.clip(np.divide(tb, den, out=np.zeros_like(tb), where=den != 0), 0.0, 1.0)
        r = k * ob
        r = np.where(same_angle & (r > 0), np.minimum(r * ADM_ENHN_GAIN_LIMIT, tb), r)
        r = np.where(same_angle & (r < 0), np.maximum(r * ADM_ENHN_GAIN_LIMIT, tb), r)
        r_out.append(r)
        a_out.append(tb - r)
    return tuple(r_out), tuple(a_out)


def _adm_region(n: int) -> tuple[int, int]:
    cut = int(n * ADM_BORDER_FACTOR - 0.5)  # C truncation towards zero
    return cut, n - cut


def _neighbour_index(n: int) -> np.ndarray:
    """Rows i-1, i, i+1 for each i, with libvmaf's masking border rule (row 1 above row 0, row n-1 below itself)."""
    i = np.arange(n)
    up = np.where(i == 0, min(1, n - 1), i - 1)
    down = np.minimum(i + 1, n - 1)
    return np.stack([up, i, down], 1)


def adm_masking_threshold(csf_a: tuple) -> np.ndarray:
    """ADM's contrast-masking threshold from the CSF-weighted additive impairment ``csf_a = (h, v, d)``.

    At each position, summed over the three orientations: 1/30 of the absolute value at the eight
    neighbours plus 1/15 of it at the position itself (borders as libvmaf: reflected at the first
    row/column, repeated at the last). Returns (T, H, W). Chapter ``vmaf``.
    """
    _, h, w = csf_a[0].shape
    iy, ix = _neighbour_index(h), _neighbour_index(w)
    thr = np.zeros(csf_a[0].shape)
    for band in csf_a:
        flt = np.abs(band) / 30.0
        box = flt[:, iy][:, :, :, ix].sum(axis=(2, 4))  # the 3x3 neighbourhood, centre included
        thr += box - flt + np.abs(band) / 15.0
    return thr


def adm_scales(ref: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ADM's numerator and denominator at each of its four scales: ``(num, den)``, each (T, 4).

    Per scale (libvmaf's ``compute_adm``): one db2 level of both frames (:func:`adm_dwt2`), the
    decoupling of the distorted details into restored and additive parts (:func:`adm_decouple`),
    contrast-sensitivity weighting of each sub-band (:func:`adm_csf_weight`), and contrast
    masking: the restored detail counts only where it exceeds the masking threshold of the additive
    impairment (:func:`adm_masking_threshold`). On the interior (10 % of each side dropped),
    ``num = sum_orient (||max(|w r| - thr, 0)||_3 + (area / 32)^(1/3))`` and
    ``den = sum_orient (||w o||_3 + (area / 32)^(1/3))``. The next scale works on the low-pass bands.
    Inputs as :func:`adm2`. Chapter ``vmaf``.
    """
    ref, dist = _check_pair(ref, dist, even=False)
    a, b = ref.astype(np.float64) - 128.0, dist.astype(np.float64) - 128.0
    t = a.shape[0]
    num, den = np.zeros((t, 4)), np.zeros((t, 4))
    for s in range(4):
        oa, *o = adm_dwt2(a)
        ta, *d = adm_dwt2(b)
        r, add = adm_decouple(tuple(o), tuple(d))
        wts = (adm_csf_weight(s, 1), adm_csf_weight(s, 1), adm_csf_weight(s, 2))
        csf_a = tuple(wt * x for wt, x in zip(wts, add))
        thr = adm_masking_threshold(csf_a)
        hh, ww = oa.shape[1:]
        (top, bottom), (left, right) = _adm_region(hh), _adm_region(ww)
        inner = (slice(None), slice(top, bottom), slice(left, right))
        noise = ((bottom - top) * (right - left) * ADM_NOISE_WEIGHT) ** (1.0 / 3.0)
        for wt, rb, ob in zip(wts, r, o):
            x = np.maximum(np.abs(wt * rb) - thr, 0.0)[inner]
            num[:, s] += np.cbrt((x ** 3).sum(axis=(1, 2))) + noise
            den[:, s] += np.cbrt((np.abs(wt * ob[inner]) ** 3).sum(axis=(1, 2))) + noise
        a, b = oa, ta
    return num, den


def adm2(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """VMAF's ``adm2`` for each frame, (T,): ADM in full, as libvmaf's ``adm.c`` / ``adm_tools.c`` do.

    ``sum_scales num / sum_scales den`` of :func:`adm_scales` (1 where the denominator vanishes);
    1 means all reference detail kept and nothing masked away; 8-bit luma (T, H, W) inputs, pixels
    offset by -128 as libvmaf does (which does not change the detail bands). Chapter ``vmaf``.
    """
    num, den = adm_scales(ref, dist)
    h, w = np.shape(ref)[-2:]
    limit = 1e-10 * (h * w) / (1920.0 * 1080.0)
    n, d = num.sum(1), den.sum(1)
    n, d = np.where(n < limit, 0.0, n), np.where(d < limit, 0.0, d)
    return np.where(d == 0, 1.0, n / np.where(d == 0, 1.0, d))


# ------------------------------------------------------------------------------------------------
# The official model: vmaf_v0.6.1 applied as libvmaf applies it

#: the official model file (Netflix/vmaf ``model/vmaf_v0.6.1.json``, BSD-2-Clause-Patent, see ``utils/VMAF_LICENSE``)
VMAF_MODEL_PATH = Path(__file__).with_name("vmaf_v0.6.1.json")
#: the model's features, in its order (libvmaf's names without the ``VMAF_integer_feature_`` prefix)
VMAF_FEATURES = ("adm2", "motion2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3")


@functools.lru_cache(maxsize=1)
def load_vmaf_model(path=None) -> dict:
    """The official ``vmaf_v0.6.1`` model as arrays: the SVR's support vectors ``sv`` (n, 6),
    coefficients ``coef`` (n,), ``rho`` and ``gamma`` of the RBF kernel, the feature names and the
    linear normalisation (``slopes``, ``intercepts``; index 0 is the score's), ``score_clip`` and the
    (by default disabled) polynomial ``score_transform``. Parsed from the JSON's libsvm text. Chapter ``vmaf``.
    """
    p = Path(path) if path is not None else VMAF_MODEL_PATH
    if not p.is_file():
        raise FileNotFoundError(f"load_vmaf_model: {p} not found (the official model ships in utils/)")
    md = json.loads(p.read_text())["model_dict"]
    if md.get("model_type") != "LIBSVMNUSVR" or md.get("norm_type") != "linear_rescale":
        raise ValueError(f"load_vmaf_model: unsupported model {md.get('model_type')} / {md.get('norm_type')}")
    names = [n.replace("VMAF_integer_feature_", "").replace("_score", "") for n in md["feature_names"]]
    head, _, body = md["model"].partition("\nSV\n")
    params = dict(line.split(" ", 1) for line in head.splitlines())
    if params.get("kernel_type") != "rbf":
        raise ValueError(f"load_vmaf_model: only the RBF kernel is supported, got {params.get('kernel_type')}")
    coef, sv = [], []
    for line in body.strip().splitlines():
        tok = line.split()
        coef.append(float(tok[0]))
        row = np.zeros(len(names))
        for item in tok[1:]:  # libsvm's sparse format: missing indices are zeros
            i, v = item.split(":")
            row[int(i) - 1] = float(v)
        sv.append(row)
    if len(sv) != int(params["total_sv"]):
        raise ValueError(f"load_vmaf_model: {len(sv)} support vectors, the header says {params['total_sv']}")
    return {"names": tuple(names), "sv": np.array(sv), "coef": np.array(coef), "rho": float(params["rho"]),
            "gamma": float(params["gamma"]), "slopes": np.array(md["slopes"]), "intercepts": np.array(md["intercepts"]),
            "score_clip": tuple(md["score_clip"]), "score_transform": dict(md.get("score_transform", {}))}


def vmaf_predict(features: dict, *, model=None, clip: bool = True, transform: bool = False) -> np.ndarray:
    """Apply the official model to per-frame features (a dict of (T,) arrays named as :data:`VMAF_FEATURES`).

    As libvmaf's ``predict.c``: each feature is rescaled linearly, ``x' = slope_i x + intercept_i``;
    the nu-SVR gives ``f(x') = sum_j coef_j exp(-gamma ||x' - sv_j||^2) - rho``; the score is
    ``(f - intercept_0) / slope_0``; the model's polynomial transform is applied only if
    ``transform=True`` (libvmaf's ``enable_transform``; off by default, as the JSON does not
    enable it), then it is clipped to [0, 100] (``clip``). Returns (T,). Chapter ``vmaf``.
    """
    m = load_vmaf_model() if model is None else model
    missing = [n for n in m["names"] if n not in features]
    if missing:
        raise KeyError(f"vmaf_predict: missing features {missing}; need {list(m['names'])}")
    x = np.stack([np.atleast_1d(np.asarray(features[n], dtype=np.float64)) for n in m["names"]], 1)
    if not np.all(np.isfinite(x)):
        raise ValueError("vmaf_predict: features must be finite")
    x = x * m["slopes"][1:] + m["intercepts"][1:]
    d2 = ((x[:, None, :] - m["sv"][None, :, :]) ** 2).sum(-1)
    f = np.exp(-m["gamma"] * d2) @ m["coef"] - m["rho"]
    score = (f - m["intercepts"][0]) / m["slopes"][0]
    if transform:
        st = m["score_transform"]
        y = st.get("p0", 0.0) + st.get("p1", 0.0) * score + st.get("p2", 0.0) * score**2
        if str(st.get("out_gte_in", "false")).lower() == "true":
            y = np.maximum(y, score)
        if str(st.get("out_lte_in", "false")).lower() == "true":
            y = np.minimum(y, score)
        score = y
    if clip:
        score = np.clip(score, *m["score_clip"])
    return score


def _as_luma8(v, name: str) -> np.ndarray:
    if not isinstance(v, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array (T, H, W) of luma, got {type(v).__name__}")
    if v.dtype == np.uint8:
        return v
    if v.dtype.kind != "f":
        raise TypeError(f"{name}: expected uint8 (0..255) or float in [0, 1], got dtype {v.dtype}")
    if not np.all(np.isfinite(v)) or v.min() < 0.0 or v.max() > 1.0:
        raise ValueError(f"{name}: float frames must be finite and in [0, 1], got range "
                         f"[{np.nanmin(v):.3g}, {np.nanmax(v):.3g}]")
    return np.round(v * 255.0).astype(np.uint8)


def vmaf_score(reference: np.ndarray, distorted: np.ndarray, *, motion_force_zero: bool = False,
               return_features: bool = False):
    """VMAF (official model ``vmaf_v0.6.1``) of ``distorted`` against ``reference``, one score per frame.

    Frames are (T, H, W) (or one (H, W) image) luma, uint8 or float in [0, 1] (quantised to 8 bits,
    as a video is). The features are the book's own: :func:`adm2`, :func:`motion` (``motion2``, of
    the reference) and :func:`vif_scales`; the model is applied by :func:`vmaf_predict` as libvmaf
    does. ``motion_force_zero=True`` sets motion2 to 0 (libvmaf's ``motion_force_zero``). Returns
    (T,) scores in [0, 100], or ``(scores, features)`` with ``return_features=True``.

    Agreement with libvmaf (measured in the chapter and in ``tests/test_vmaf.py``): the features
    follow libvmaf's floating-point extractors (``float_adm``/``float_vif``/``float_motion``) to
    1e-4 or better; the model's own fixed-point features differ from those by up to ~5e-3 (VIF) and
    ~1e-3 (ADM), and the score stays within 0.5 points of libvmaf's for frames of at least 48x48.
    Below that, libvmaf's fixed-point ADM departs from its float ADM at the coarsest scale (sub-bands
    of 2x2 or less) and scores can differ by a few points. Chapter ``vmaf``.
    """
    ref, dist = _check_pair(_as_luma8(reference, "reference"), _as_luma8(distorted, "distorted"), even=False)
    feats = frame_features(ref, dist)
    if motion_force_zero:
        feats["motion2"] = np.zeros_like(feats["motion2"])
    score = vmaf_predict(feats)
    return (score, feats) if return_features else score
