"""Counting what a forward pass costs: multiply-adds and feature-map memory, by forward hooks.

Taught in chapters/octconv.md (where it checks the paper's FLOPs and memory formulas for octave
convolution) and used in chapters/mirnet.md (the multiply-adds of the full MIRNet at 256x256).
Counting what really runs, rather than trusting a formula, catches layers that are used twice,
skipped, or applied at a resolution the formula did not expect.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .checks import check_tensor

__all__ = ["CostReport", "measure_cost"]

_COUNTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@dataclass
class CostReport:
    """What :func:`measure_cost` counted for one forward pass, per sample of the batch.

    ``macs``: multiply-adds of every ``nn.Conv2d``, ``nn.ConvTranspose2d`` and ``nn.Linear`` that ran
    (a module run twice counts twice); ``activations``: number of output elements of the measured
    module (its feature-map memory, in values); ``per_layer``: multiply-adds by submodule name.
    """

    macs: int = 0
    activations: int = 0
    per_layer: dict = field(default_factory=dict)


def _count_outputs(out) -> int:
    if isinstance(out, torch.Tensor):
        return out[0].numel() if out.ndim > 0 else 1
    if isinstance(out, (tuple, list)):
        return sum(_count_outputs(t) for t in out if t is not None)
    return 0


def _layer_macs(m: nn.Module, inp, out) -> int:
    """Multiply-adds of one call of a counted layer, for the first sample of its batch."""
    if isinstance(m, nn.Conv2d):
        # one multiply-add per weight tap per output value
        return out[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
    if isinstance(m, nn.ConvTranspose2d):
        # each input value is scattered through every tap of its group's output channels
        return inp[0][0].numel() * (m.out_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
    return out[0].numel() * m.in_features  # nn.Linear (out[0] covers any leading dimensions)


def measure_cost(module: nn.Module, *inputs: torch.Tensor) -> CostReport:
    """Run ``module(*inputs)`` once, without gradients, and count its cost per sample.

    Convolution: ``out_elements x in_channels/groups x kh x kw``; transposed convolution:
    ``in_elements x out_channels/groups x kh x kw``; linear: ``out_elements x in_features``.
    Element-wise work (activations, attention products, pooling, resizing) is not counted: it does
    no multiply-add with a weight. ``activations`` counts the values the module returns (tensors or
    tuples of tensors), per sample.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"measure_cost: expected a torch.nn.Module, got {type(module).__name__}")
    if not inputs:
        raise ValueError("measure_cost: expected at least one input for the forward pass")
    for i, x in enumerate(inputs):
        if isinstance(x, torch.Tensor):
            check_tensor(x, f"inputs[{i}]")
    report = CostReport()
    handles = []

    def layer_hook(name):
        def hook(m, inp, out):
            macs = int(_layer_macs(m, inp, out))
            report.per_layer[name] = report.per_layer.get(name, 0) + macs
            report.macs += macs

        return hook

    for name, m in module.named_modules():
        if isinstance(m, _COUNTED):
            handles.append(m.register_forward_hook(layer_hook(name or type(m).__name__)))

    def out_hook(m, inp, out):
        report.activations += _count_outputs(out)

    handles.append(module.register_forward_hook(out_hook))
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return report
