"""Input validation shared by every public function of ``utils``.

Each check raises ``ValueError`` or ``TypeError`` with a message that says what was
expected and what was received, so a reader who passes the wrong thing learns how to fix it.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_image", "check_same_shape", "check_positive", "check_in_range", "check_choice", "check_tensor"]


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"numpy array of shape {x.shape} and dtype {x.dtype}"
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return f"torch tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return f"object of type {type(x).__name__}"


def as_image(
    x,
    name: str = "image",
    *,
    channels: tuple[int, ...] = (1, 3),
    allow_gray2d: bool = True,
    min_size: int = 1,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    tol: float = 1e-6,
) -> np.ndarray:
    """Return ``x`` as a float64 array of shape (H, W) or (H, W, C), after checking it.

    Accepts numpy arrays (and torch tensors of shape (H, W), (H, W, C), (C, H, W) with C in
    ``channels`` or (1, C, H, W)). ``value_range`` is the range the values must lie in
    (``None`` skips the check); ``min_size`` is the smallest allowed height and width.
    """
    try:
        import torch

        if isinstance(x, torch.Tensor):
            t = x.detach().cpu()
            if t.ndim == 4 and t.shape[0] == 1:
                t = t[0]
            if t.ndim == 3 and t.shape[0] in channels and t.shape[-1] not in channels:
                t = t.permute(1, 2, 0)
            if not torch.is_floating_point(t):
                raise TypeError(f"{name}: expected a floating-point tensor with values in [0, 1], got {_describe(x)}")
            x = t.double().numpy()
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array (H, W) or (H, W, C), got {_describe(x)}")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name}: expected a real-valued numeric array, got {_describe(x)}")
    if np.issubdtype(x.dtype, np.integer) and value_range == (0.0, 1.0):
        raise TypeError(
            f"{name}: expected floats in [0, 1], got integer {_describe(x)}; "
            "divide by 255 (utils.data images are already float in [0, 1])"
        )
    if x.ndim == 2:
        if not allow_gray2d:
            raise ValueError(f"{name}: expected shape (H, W, C) with C in {channels}, got {_describe(x)}")
    elif x.ndim == 3:
        if x.shape[2] not in channels:
            raise ValueError(f"{name}: expected shape (H, W, C) with C in {channels}, got {_describe(x)}")
    else:
        raise ValueError(f"{name}: expected a 2-D (H, W) or 3-D (H, W, C) image, got {_describe(x)}")
    h, w = x.shape[:2]
    if h < min_size or w < min_size:
        raise ValueError(f"{name}: expected height and width of at least {min_size} pixels, got {h}x{w}")
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if value_range is not None:
        lo, hi = value_range
        if x.min() < lo - tol or x.max() > hi + tol:
            raise ValueError(
                f"{name}: expected values in [{lo}, {hi}], got min {x.min():.4g} and max {x.max():.4g}"
            )
    return x


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("x", "y")) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_positive(value, name: str, *, integer: bool = False, allow_zero: bool = False):
    """Return ``value`` after checking that it is a positive (or non-negative) number."""
    kind = "integer" if integer else "number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (integer and not isinstance(value, numbers.Integral)):
        raise TypeError(f"{name}: expected a {kind}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero) or not np.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite {kind} {bound}, got {value!r}")
    return value


def check_in_range(value, name: str, lo: float, hi: float):
    """Return ``value`` after checking ``lo <= value <= hi``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number in [{lo}, {hi}], got {value!r}")
    if not (lo <= value <= hi):
        raise ValueError(f"{name}: expected a number in [{lo}, {hi}], got {value!r}")
    return value


def check_choice(value, name: str, choices) -> object:
    """Return ``value`` after checking it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(map(str, choices))}, got {value!r}")
    return value


def check_tensor(x, name: str = "x", *, ndim: int | None = None, channels: int | None = None, min_size: int = 1):
    """Check a torch tensor's rank, channel count (dim 1 for NCHW) and spatial size; return it."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch tensor, got {_describe(x)}")
    if ndim is not None and x.ndim != ndim:
        layout = {4: " (N, C, H, W)", 3: " (C, H, W)", 2: " (N, D)"}.get(ndim, "")
        raise ValueError(f"{name}: expected a {ndim}-D tensor{layout}, got {_describe(x)}")
    if channels is not None and (x.ndim < 2 or x.shape[1] != channels):
        raise ValueError(f"{name}: expected {channels} channels in dimension 1, got {_describe(x)}")
    if x.ndim >= 3 and min(x.shape[-2:]) < min_size:
        raise ValueError(f"{name}: expected spatial size of at least {min_size}x{min_size}, got {_describe(x)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name}: expected a floating-point tensor, got {_describe(x)}")
    return x
