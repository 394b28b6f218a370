"""utils.hifacegan: the ablation skeleton (equal parameters, LIP reduction, identity start) and bad inputs."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.hifacegan import ARMS, LIP, AvgDown, ConcatResBlock, HiFaceNet, degrade_face, make_arm
from utils.train import count_parameters


def test_arms_have_equal_parameters_within_two_percent():
    counts = [count_parameters(make_arm(a)) for a in ARMS]
    assert max(counts) / min(counts) < 1.02
    assert count_parameters(make_arm("HiFaceGAN (SPADE + LIP)")) == count_parameters(make_arm("SPADE + avg pool"))


def test_lip_with_constant_logit_is_average_pooling():
    lip = LIP(3).double()
    with torch.no_grad():
        nn.init.zeros_(lip.logit[0].weight)
        nn.init.zeros_(lip.logit[1].weight)
        nn.init.constant_(lip.logit[1].bias, -0.7)
    x = torch.rand(2, 3, 10, 12, dtype=torch.double)
    with torch.no_grad():
        assert float((lip(x) - F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)).abs().max()) < 1e-12
        assert AvgDown(3)(x.float()).shape == (2, 3, 5, 6)


@pytest.mark.parametrize("arm", list(ARMS))
def test_untrained_network_returns_its_input(arm):
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 32)
    net = make_arm(arm)
    with torch.no_grad():
        assert torch.equal(net(x), x)  # residual output whose last conv starts at zero
    assert len(net.pyramid(x)) == 4 and net.pyramid(x)[-1].shape == (2, 16, 4, 4)


def test_concat_block_shapes():
    blk = ConcatResBlock(4, 4, 6)
    assert blk(torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)).shape == (1, 4, 8, 8)


def test_bad_inputs():
    with pytest.raises(ValueError, match="down"):
        HiFaceNet("max", "spade")
    with pytest.raises(ValueError, match="skip"):
        HiFaceNet("lip", "add")
    with pytest.raises(ValueError, match="unknown arm"):
        make_arm("U-Net")
    with pytest.raises(ValueError, match="multiples of 8"):
        make_arm("concat skip + LIP")(torch.rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match="channels"):
        make_arm("concat skip + LIP")(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="kind"):
        degrade_face(np.zeros((32, 32)), "rain", np.random.default_rng(0))
