"""utils.pirm_sr: the PIRM chapter's miniature generator and discriminator."""
import pytest
import torch

from utils.pirm_sr import SmallD, SmallSR


def test_small_sr_shapes_and_bicubic_residual():
    net = SmallSR(w=8)
    x = torch.rand(2, 3, 12, 12)
    assert net(x).shape == (2, 3, 48, 48)
    with torch.no_grad():
        for p in net.out.parameters():
            p.zero_()
    base = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(net(x), base)


def test_small_d_one_logit_per_patch():
    assert SmallD(w=4)(torch.rand(1, 3, 48, 48)).shape == (1, 1, 6, 6)


@pytest.mark.parametrize("w", [0, -1, 2.5, True])
def test_width_validated(w):
    with pytest.raises(ValueError, match="width"):
        SmallSR(w=w)
    with pytest.raises(ValueError, match="width"):
        SmallD(w=w)


def test_small_sr_rejects_wrong_input():
    with pytest.raises(ValueError, match="SmallSR"):
        SmallSR(w=4)(torch.rand(3, 12, 12))
