"""Image-quality metrics, each a faithful port of its official release. Taught in the IQA chapters."""
from .niqe import fit_pristine_model, mscn, niqe, niqe_features
from .ma import ma_score  # noqa: E402,F401  (Ma et al. chapter)
from .ma import perceptual_index  # noqa: E402,F401  (PIRM chapter)
from .lpips import lpips  # noqa: E402,F401  (LPIPS chapter)

__all__ = ["niqe", "niqe_features", "mscn", "fit_pristine_model"]
