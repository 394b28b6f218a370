"""Miniature image-to-image translation models and measures of chapters/pix2pixhd.md (and pix2pix).

- :class:`CoarseToFine`: pix2pixHD's global generator G1 on the 2x-downsampled input plus a local enhancer G2
  that adds G1's features to its own at half resolution (Wang et al., CVPR 2018, Sec. 3.2), at miniature size.
- :func:`touching_scene_tensors`: the chapter's scenes of touching same-class objects as tensors.
- :func:`hidden_boundary_contrast`: brightness of object interiors minus brightness on the boundaries between
  touching same-class objects, relative to the same difference in the targets.
- :func:`hf_correlation`: correlation of the high-frequency parts (image minus its 3x3 box blur) of an output
  and its ground truth: sharpness that counts only when it is the right detail.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import synth
from .checks import check_positive, check_tensor

__all__ = ["CoarseToFine", "touching_scene_tensors", "hidden_boundary_contrast", "hf_correlation", "hidden_boundaries",
           "texture_pairs", "class_textures", "phase_aligned_distance"]


def _conv_block(cin, cout, k=3, stride=1):
    pad = k // 2 if stride == 1 else 1
    mode = "reflect" if stride == 1 else "zeros"
    return [nn.Conv2d(cin, cout, k, stride, pad, padding_mode=mode), nn.InstanceNorm2d(cout, affine=True), nn.ReLU()]


class _ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(*_conv_block(c, c)[:2], nn.ReLU(), *_conv_block(c, c)[:2])

    def forward(self, x):
        return x + self.body(x)


class CoarseToFine(nn.Module):
    """Global generator G1 on the 2x-downsampled input; local enhancer G2 adds G1's features at half resolution.

    G1: 5x5 conv, a stride-2 conv, two residual blocks, nearest upsampling and a conv back to ``2 * w``
    channels. G2: 5x5 conv and a stride-2 conv on the full-resolution input, plus G1's output, one residual
    block, nearest upsampling, a conv and a 5x5 output conv with a sigmoid. Instance norm (affine), ReLU,
    reflection padding for stride-1 convs (as the official code's global generator).
    """

    def __init__(self, in_channels: int, w: int = 8):
        super().__init__()
        check_positive(in_channels, "in_channels", integer=True)
        check_positive(w, "w", integer=True)
        self.in_channels = in_channels
        self.g1 = nn.Sequential(*_conv_block(in_channels, 2 * w, 5), *_conv_block(2 * w, 4 * w, 4, 2), _ResBlock(4 * w), _ResBlock(4 * w),
                                nn.Upsample(scale_factor=2, mode="nearest"), *_conv_block(4 * w, 2 * w))
        self.g2_front = nn.Sequential(*_conv_block(in_channels, w, 5), *_conv_block(w, 2 * w, 4, 2))
        self.g2_back = nn.Sequential(_ResBlock(2 * w), nn.Upsample(scale_factor=2, mode="nearest"), *_conv_block(2 * w, w),
                                     nn.Conv2d(w, 3, 5, padding=2, padding_mode="reflect"), nn.Sigmoid())

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        check_tensor(s, "s", ndim=4, channels=self.in_channels)
        if s.shape[-1] % 4 or s.shape[-2] % 4:
            raise ValueError(f"CoarseToFine: height and width must be multiples of 4, got {tuple(s.shape[-2:])}")
        coarse = F.avg_pool2d(s, 3, 2, 1, count_include_pad=False)
        return self.g2_back(self.g2_front(s) + self.g1(coarse))


def touching_scene_tensors(n: int, size: int = 32, *, seed: int = 0, n_classes: int = 3):
    """Scenes of touching same-class objects: ``(labels, instances, one_hot, boundary, image)``.

    ``labels``/``instances`` are int64 arrays (n, size, size); ``one_hot`` (n, n_classes, size, size),
    ``boundary`` (n, 1, size, size) and ``image`` (n, 3, size, size) are float32 tensors in [0, 1].
    """
    check_positive(n, "n", integer=True)
    labels, instances = synth.touching_object_scenes(n, size, seed=seed)
    images = synth.paint_instances(labels, instances, seed=seed + 1)
    boundary = torch.tensor(synth.instance_boundaries(instances))[:, None]
    return labels, instances, synth.one_hot(labels, n_classes), boundary, torch.tensor(images.transpose(0, 3, 1, 2), dtype=torch.float32)


def hidden_boundaries(labels: np.ndarray, instances: np.ndarray) -> np.ndarray:
    """Boundary pixels between instances that the label map does not show (same class on both sides), bool (n, H, W)."""
    labels, instances = np.asarray(labels), np.asarray(instances)
    if labels.shape != instances.shape or labels.ndim != 3:
        raise ValueError(f"hidden_boundaries: expected two (n, H, W) maps of one shape, got {labels.shape} and {instances.shape}")
    hidden = (synth.instance_boundaries(instances) > 0) & ~(synth.instance_boundaries(labels) > 0)
    hidden[:, [0, -1], :] = False
    hidden[:, :, [0, -1]] = False
    return hidden


def hidden_boundary_contrast(out: torch.Tensor, target: torch.Tensor, labels: np.ndarray, instances: np.ndarray) -> float:
    """(interior - hidden-boundary luminance) of ``out`` over the same of ``target``, pooled over scenes with such boundaries.

    1: the gaps between touching same-class objects are as dark as in the targets; 0: not drawn.
    """
    check_tensor(out, "out", ndim=4, channels=3)
    check_tensor(target, "target", ndim=4, channels=3)
    if out.shape != target.shape or out.shape[0] != len(labels):
        raise ValueError(f"hidden_boundary_contrast: shapes differ: {tuple(out.shape)}, {tuple(target.shape)}, {len(labels)} maps")
    hidden = hidden_boundaries(labels, instances)
    interior = (np.asarray(labels) > 0) & ~(synth.instance_boundaries(instances) > 0)
    lo, lt = out.mean(1).detach().cpu().numpy(), target.mean(1).detach().cpu().numpy()
    keep = [i for i in range(len(lo)) if hidden[i].any()]
    if not keep:
        raise ValueError("hidden_boundary_contrast: no scene has a hidden boundary")
    c = np.mean([lo[i][interior[i]].mean() - lo[i][hidden[i]].mean() for i in keep])
    t = np.mean([lt[i][interior[i]].mean() - lt[i][hidden[i]].mean() for i in keep])
    return float(c / t)


def hf_correlation(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image correlation (N,) of the high-frequency parts (x - box3(x)) of ``out`` and ``target``.

    Near 1: the output has the target's detail where the target has it; near 0: blur or detail in the wrong
    place (noise). A pixel measure of sharpness that no generator is trained on.
    """
    check_tensor(out, "out", ndim=4)
    check_tensor(target, "target", ndim=4)
    if out.shape != target.shape:
        raise ValueError(f"hf_correlation: shapes differ: {tuple(out.shape)} and {tuple(target.shape)}")
    hp = lambda x: (x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)).flatten(1)  # noqa: E731
    a, b = hp(out.float()), hp(target.float())
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


# ------------------------------------------------------------------ pix2pix's miniature task (chapters/pix2pix.md)
class _FixedPhase:
    """Stands in for the random generator of ``synth._texture`` so that a texture is drawn at a given phase."""

    def __init__(self, oy: int, ox: int):
        self.phase = np.array([oy, ox])

    def integers(self, *args, **kwargs):
        return self.phase

    def uniform(self, *args, **kwargs):
        raise ValueError("phase_aligned_distance: only the periodic textures (stripes, dots, checks, diagonals) have phases")


def texture_pairs(n: int, size: int = 32, classes=(0, 2, 5), *, amplitude: float = 0.25, seed: int = 0):
    """Label maps of ``len(classes)`` classes (Voronoi, 2-4 regions) and their paintings with synth's textures.

    Returns ``(labels, one_hot, images)``: int64 (n, size, size) indices into ``classes``, float32 tensors
    (n, len(classes), size, size) and (n, 3, size, size). Each class's texture has a random phase per image.
    """
    check_positive(n, "n", integer=True)
    classes = np.asarray(classes)
    labels, _ = synth.voronoi_label_maps(n, size, len(classes), n_regions=(2, 4), seed=seed)
    images = synth.paint_classes(classes[labels], amplitude=amplitude, seed=seed + 1)
    return labels, synth.one_hot(labels, len(classes)), torch.tensor(images.transpose(0, 3, 1, 2), dtype=torch.float32)


def class_textures(c: int, size: int, amplitude: float) -> torch.Tensor:
    """Every valid painting of class ``c`` (all 64 phases of ``synth``'s texture), clipped: (64, 3, size, size)."""
    cands = []
    for oy in range(8):
        for ox in range(8):
            t = synth._texture(int(c), (size, size), _FixedPhase(oy, ox))
            cands.append(np.clip(synth.CLASS_COLOURS[c][:, None, None] + amplitude * t[None], 0.0, 1.0))
    return torch.tensor(np.stack(cands), dtype=torch.float32)


def phase_aligned_distance(out: torch.Tensor, labels: np.ndarray, classes=(0, 2, 5), *, amplitude: float = 0.25) -> torch.Tensor:
    """Distance (N,) of each output to the nearest *valid* target: for every class present in an image, the
    minimum over the texture's 64 phases of the mean L1 (over that class's pixels and the 3 channels) to the
    class painted at that phase; averaged over the image's classes, weighted by their pixel counts.

    The exact targets score 0; a flat image at the class colour scores about ``amplitude``; a texture at a
    wrong phase or of the wrong kind scores more than the right texture at the right phase.
    """
    check_tensor(out, "out", ndim=4, channels=3)
    labels = np.asarray(labels)
    if labels.shape != (out.shape[0], out.shape[2], out.shape[3]):
        raise ValueError(f"phase_aligned_distance: labels {labels.shape} do not match outputs {tuple(out.shape)}")
    classes = list(classes)
    size = out.shape[-1]
    cands = {k: class_textures(c, size, amplitude) for k, c in enumerate(classes)}
    lab = torch.as_tensor(labels)
    dist = torch.zeros(out.shape[0])
    with torch.no_grad():
        for k, cand in cands.items():
            mask = (lab == k).float()                                        # (N, H, W)
            npix = mask.sum((1, 2))
            err = (out[:, None] - cand[None]).abs().mean(2)                  # (N, 64, H, W)
            per_phase = (err * mask[:, None]).sum((2, 3)) / npix.clamp_min(1)[:, None]
            dist += per_phase.min(1).values * npix
        dist /= torch.tensor(float(labels.shape[1] * labels.shape[2]))
    return dist
