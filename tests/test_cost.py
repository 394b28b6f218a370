"""utils.cost.measure_cost: operator-level multiply-adds (FlopCounterMode / 2), per-sample counts, peak values."""
from fractions import Fraction

import pytest
import torch
import torch.nn as nn

from utils.cost import measure_cost
from utils.octave import OctConv2d
from utils.pac import PacConv2d


def test_pac_counts_like_the_convolution_it_generalises():
    x, f = torch.randn(3, 8, 10, 10), torch.randn(3, 4, 10, 10)
    conv = measure_cost(nn.Conv2d(8, 6, 3, padding=1), x)
    pac = measure_cost(PacConv2d(8, 6, 3), x, f)
    assert conv.macs == 6 * 8 * 9 * 100
    assert pac.macs == conv.macs  # the einsum of W with the windows; the kernel K is element-wise
    assert pac.activations == conv.activations == 6 * 100


def test_unbatched_input_counts_one_sample():
    conv = nn.Conv2d(4, 5, 3, padding=1)
    batched = measure_cost(conv, torch.randn(2, 4, 6, 6))
    single = measure_cost(conv, torch.randn(4, 6, 6))
    assert single.batch == 1 and batched.batch == 2
    assert single.macs == batched.macs == 5 * 4 * 9 * 36
    assert single.activations == batched.activations == 5 * 36
    lin = nn.Linear(7, 3)
    assert measure_cost(lin, torch.randn(7)).macs == measure_cost(lin, torch.randn(5, 7)).macs == 21
    assert measure_cost(conv, torch.randn(4, 4, 6, 6), batch_size=1).macs == 4 * batched.macs


def test_batch_norm_statistics_and_training_flags_are_left_alone():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
    net.train()
    net[2].eval()
    before = (net[1].running_mean.clone(), net[1].running_var.clone(), int(net[1].num_batches_tracked))
    measure_cost(net, torch.randn(2, 3, 8, 8))
    assert torch.equal(before[0], net[1].running_mean) and torch.equal(before[1], net[1].running_var)
    assert int(net[1].num_batches_tracked) == before[2]
    assert net.training and net[1].training and not net[2].training


def test_per_layer_is_innermost_and_sums_to_total():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)

        def forward(self, x):
            q, k = self.q(x).flatten(2), self.k(x).flatten(2)
            return q.transpose(1, 2) @ k  # (n, hw, hw): a bmm in the module's own forward

    rep = measure_cost(Attn(), torch.randn(2, 4, 5, 5))
    assert rep.per_layer == {"q": 4 * 4 * 25, "k": 4 * 4 * 25, "(root)": 25 * 25 * 4}
    assert sum(rep.per_layer.values()) == rep.macs


def test_transposed_conv_counted_by_input_size():
    up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
    assert measure_cost(up, torch.zeros(1, 8, 8, 8)).macs == 8 * 64 * 4 * 9


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
def test_octconv_peak_includes_intermediates(alpha):
    c, s = 64, 16
    layer = OctConv2d(c, c, 3, alpha, alpha)
    pair = (torch.randn(2, layer.in_h, s, s), torch.randn(2, layer.in_l, s // 2, s // 2))
    rep = measure_cost(layer, pair)
    a = Fraction(alpha)
    # OctConv2d.forward holds y_h, up = Up(conv_lh(x_l)), y_h + up and y_l at once (high-group sum), or later
    # y_h + up, up, y_l, conv_ll(x_l) and their sum (low-group sum): the peak is the larger of the two
    assert Fraction(rep.peak_values, c * s * s) == max(3 * (1 - a) + a / 4, 2 * (1 - a) + 3 * a / 4)
    plain = measure_cost(nn.Conv2d(c, c, 3, padding=1), torch.randn(2, c, s, s))
    assert plain.peak_values == c * s * s


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        measure_cost(nn.Conv2d(1, 1, 3), torch.zeros(1, 1, 8, 8), batch_size=0)
