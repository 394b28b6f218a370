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
    "real_vmaf",
    "x264",
]

#: VMAF's motion blur filter (separable, 5 taps)
MOTION_FILTER = np.array([0.0545, 0.2442, 0.4026, 0.2442, 0.0545])
#: VIF's variance of the visual noise, on the 0-255 scale
VIF_SIGMA_NSQ = 2.0


def _check_video(v, name: str, *, min_size: int = 16) -> np.ndarray:
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
    if v.shape[1] % 2 or v.shape[2] % 2:
        raise ValueError(f"{name}: height and width must be even (4:2:0 video), got {v.shape[1]}x{v.shape[2]}")
    return v


def _check_pair(ref, dist):
    ref, dist = _check_video(ref, "ref"), _check_video(dist, "dist")
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


def real_vmaf(ref: np.ndarray, dist: np.ndarray, *, motion_force_zero: bool = False) -> dict:
    """Real VMAF (libvmaf, model ``vmaf_v0.6.1``) of ``dist`` against ``ref``, both uint8 luma (T, H, W).

    Runs the ffmpeg of ``imageio-ffmpeg`` offline on y4m files in a temporary folder. Returns a dict
    of per-frame numpy arrays, libvmaf's names: ``vmaf``, ``integer_adm2``, ``integer_motion2``,
    ``integer_vif_scale0..3`` (and the others it logs), plus ``seconds`` (wall time of the ffmpeg
    call). ``motion_force_zero=True`` sets the motion feature to 0 inside the model (libvmaf's
    ``motion.motion_force_zero`` option): the same score without temporal masking. Chapter ``vmaf``.
    """
    ref, dist = _check_pair(ref, dist)
    model = "version=vmaf_v0.6.1" + (r"\:motion.motion_force_zero=true" if motion_force_zero else "")
    with tempfile.TemporaryDirectory(prefix="vmaf_") as tmp:
        write_y4m(Path(tmp) / "ref.y4m", ref)
        write_y4m(Path(tmp) / "dist.y4m", dist)
        seconds = _run(["-i", "dist.y4m", "-i", "ref.y4m", "-lavfi",
                        f"[0:v][1:v]libvmaf=log_fmt=json:log_path=vmaf.json:n_threads=1:model='{model}'",
                        "-f", "null", "-"], tmp)
        log = json.loads((Path(tmp) / "vmaf.json").read_text())
    frames = log["frames"]
    out = {k: np.array([fr["metrics"][k] for fr in frames]) for k in frames[0]["metrics"]}
    out["seconds"] = seconds
    return out


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
    (0-255 scale), VMAF's per-scale ratio; as in libvmaf, at positions where the reference is
    locally flat (``s1^2 < sn^2``) the two log terms are replaced by ``1 - s2^2 / 255^2`` and ``1``.
    Borders are mirrored. The chapter measures the agreement with libvmaf's own values. Chapter ``vmaf``.
    """
    ref, dist = _check_pair(ref, dist)
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
        # where the reference is locally flat (variance below the noise variance) libvmaf replaces
        # the log terms by 1 - s2^2 / 255^2 (numerator) and 1 (denominator)
        flat = s1 < VIF_SIGMA_NSQ
        num = np.where(flat, 1.0 - s2 / 255.0**2, np.log2(1 + g * g * s1 / (sv + VIF_SIGMA_NSQ))).sum(axis=(1, 2))
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
    ref = _check_video(ref, "ref")
    blur = _filt(ref.astype(np.float64), MOTION_FILTER)
    m = np.zeros(ref.shape[0])
    m[1:] = np.abs(np.diff(blur, axis=0)).mean(axis=(1, 2))
    m2 = m.copy()
    m2[:-1] = np.minimum(m[:-1], m[1:])
    return m, m2


def frame_features(ref: np.ndarray, dist: np.ndarray) -> dict:
    """The book's six per-frame features of ``dist`` against ``ref``: ``adm`` (:func:`detail_loss`),
    ``motion2`` (:func:`motion` of ``ref``) and ``vif_scale0..3`` (:func:`vif_scales`); each (T,)."""
    ref, dist = _check_pair(ref, dist)
    v = vif_scales(ref, dist)
    return {"adm": detail_loss(ref, dist), "motion2": motion(ref)[1], **{f"vif_scale{s}": v[:, s] for s in range(4)}}
