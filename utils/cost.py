"""Counting what a forward pass costs: multiply-adds, output values and peak memory, at the operator level.

Taught in chapters/octconv.md (where it checks the paper's FLOPs and memory formulas for octave
convolution), used in chapters/pac.md (the multiply-adds of a pixel-adaptive convolution, which is an
``einsum`` and no ``nn.Conv2d``) and chapters/mirnet.md (the multiply-adds of the full MIRNet at 256x256).
Counting what really runs, rather than trusting a formula, catches layers that are used twice, skipped,
applied at a resolution the formula did not expect, or written as tensor algebra instead of modules.

Multiply-adds come from :class:`torch.utils.flop_counter.FlopCounterMode`, which sees every convolution,
transposed convolution and matrix product (``mm``, ``addmm``, ``bmm``, ``einsum``, attention) at the ATen
level. That counter reports FLOPs = 2 x multiply-adds; this module reports **multiply-adds** (MACs)
everywhere. Element-wise work (activations, normalisation, pooling, resizing, biases) is not counted.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .checks import check_positive, check_tensor

__all__ = ["CostReport", "measure_cost"]


@dataclass
class CostReport:
    """What :func:`measure_cost` counted for one forward pass, per sample of the batch.

    ``macs``: multiply-adds of every convolution, transposed convolution and matrix product that ran
    (a module run twice counts twice); ``activations``: number of values the measured module returns (its
    output feature-map memory); ``per_layer``: multiply-adds by submodule name, each op attributed to the
    innermost module that ran it (``"(root)"`` for ops in the measured module's own ``forward``), so that
    they sum to ``macs``; ``peak_values``: the largest number of values held at once, during the forward
    pass, by tensors it created (intermediates such as pooled or pre-upsampling maps, and the outputs;
    not the inputs, parameters or buffers); ``batch``: the batch size the counts were divided by.
    """

    macs: int = 0
    activations: int = 0
    per_layer: dict = field(default_factory=dict)
    peak_values: float = 0
    batch: int = 1


def _tensors(obj):
    """All tensors in nested tuples, lists and dicts, in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def _infer_batch(inputs) -> int:
    """Leading size of the first tensor input: images (N, C, H, W) and vectors (N, F) are batched;
    a (C, H, W) image or an (F,) vector is one sample."""
    for t in _tensors(inputs):
        return int(t.shape[0]) if t.ndim in (2, 4, 5) else 1
    return 1


def _per_sample(total: int, batch: int):
    return total // batch if total % batch == 0 else total / batch


class _PeakValues(torch.utils._python_dispatch.TorchDispatchMode):
    """Tracks the values held by storages that the ops create, freeing them when their last tensor dies."""

    def __init__(self, external: set):
        super().__init__()
        self.external = external  # data pointers of inputs, parameters and buffers
        self.refs: dict = {}      # storage data pointer -> [values, number of live tensors on it]
        self.seen = weakref.WeakSet()
        self.current = self.peak = 0

    def _release(self, key):
        entry = self.refs.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in _tensors(out):
            if t in self.seen or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or key in self.external:
                continue
            self.seen.add(t)
            if key in self.refs:
                self.refs[key][1] += 1
            else:
                self.refs[key] = [nbytes // t.element_size(), 1]
                self.current += self.refs[key][0]
                self.peak = max(self.peak, self.current)
            weakref.finalize(t, self._release, key)
        return out


def _exclusive(counts: dict, root: str) -> dict:
    """Per-module multiply-adds attributed to the innermost module (FlopCounterMode's are inclusive)."""
    inclusive = {k: sum(v.values()) // 2 for k, v in counts.items() if k != "Global"}
    children: dict = {}
    for k, v in inclusive.items():
        if k != root:
            parent = k.rsplit(".", 1)[0]
            children[parent] = children.get(parent, 0) + v
    out = {}
    for k, v in inclusive.items():
        own = v - children.get(k, 0)
        if own > 0:
            out["(root)" if k == root else k[len(root) + 1:]] = own
    return out


def measure_cost(module: nn.Module, *inputs: torch.Tensor, batch_size: int | None = None) -> CostReport:
    """Run ``module(*inputs)`` once and count its cost per sample (see :class:`CostReport`).

    The pass runs in evaluation mode and without gradients, so batch-norm running statistics and dropout
    masks are left as they were; every submodule's training flag is restored afterwards. Counts are divided
    by the batch size: ``batch_size``, or the leading size of the first tensor input when that input is
    batched ((N, C, H, W), (N, F) or (N, C, D, H, W)); an unbatched (C, H, W) or (F,) input is one sample.
    Inputs may be tensors or tuples of tensors (an octave pair; ``None`` for an empty group).

    Multiply-adds: convolution ``out_elements x in_channels/groups x kh x kw``; transposed convolution
    ``in_elements x out_channels/groups x kh x kw``; matrix products ``m x n x k`` (FLOPs / 2 of
    :class:`torch.utils.flop_counter.FlopCounterMode`).
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(module, nn.Module):
        raise TypeError(f"measure_cost: expected a torch.nn.Module, got {type(module).__name__}")
    if not inputs:
        raise ValueError("measure_cost: expected at least one input for the forward pass")
    for i, x in enumerate(inputs):
        if isinstance(x, torch.Tensor):
            check_tensor(x, f"inputs[{i}]")
        elif isinstance(x, (tuple, list)):
            for j, t in enumerate(x):
                if t is not None:
                    check_tensor(t, f"inputs[{i}][{j}]")
    if batch_size is None:
        batch = _infer_batch(inputs)
    else:
        check_positive(batch_size, "batch_size", integer=True)
        batch = int(batch_size)
    external = {t.untyped_storage().data_ptr() for t in _tensors(inputs)}
    external |= {p.untyped_storage().data_ptr() for p in module.parameters()}
    external |= {b.untyped_storage().data_ptr() for b in module.buffers()}
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    counter = FlopCounterMode(display=False)
    peak = _PeakValues(external)
    try:
        with torch.no_grad(), counter, peak:
            out = module(*inputs)
            activations = sum(t.numel() for t in _tensors(out))
            peak_values = peak.peak
    finally:
        for m, was_training in modes:
            m.training = was_training
    root = type(module).__name__
    total = counter.get_total_flops() // 2
    per_layer = {k: _per_sample(v, batch) for k, v in _exclusive(counter.get_flop_counts(), root).items()}
    return CostReport(macs=_per_sample(total, batch), activations=_per_sample(activations, batch),
                      per_layer=per_layer, peak_values=_per_sample(peak_values, batch), batch=batch)
