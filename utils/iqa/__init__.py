"""Image-quality metrics, each a faithful port of its official release. Taught in the IQA chapters."""
from .niqe import fit_pristine_model, mscn, niqe, niqe_features

__all__ = ["niqe", "niqe_features", "mscn", "fit_pristine_model"]
