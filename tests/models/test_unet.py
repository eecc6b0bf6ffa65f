import pytest
import torch

from unetlab.models.unet import UNet, UNetConfig, count_parameters


def test_seed_parameter_count():
    """The seed article's Keras summary: 31,042,499 trainable parameters (base 64, depth 4, 1 -> 3 channels)."""
    assert count_parameters(UNet(UNetConfig(in_channels=1, out_channels=3))) == 31_042_499


def test_no_skips_is_about_28m():
    """Without the contracting path the decoder blocks take half the channels: the seed's ~28 M."""
    n = count_parameters(UNet(UNetConfig(in_channels=1, out_channels=3, skips=False)))
    assert n == 27_909_059
    assert 27.5e6 < n < 28.5e6


@pytest.mark.parametrize("skips", [True, False])
@pytest.mark.parametrize("depth", [1, 3])
def test_shapes_and_range(skips, depth):
    m = UNet(UNetConfig(in_channels=1, out_channels=3, base=4, depth=depth, skips=skips)).eval()
    x = torch.rand(2, 1, 24, 40)
    y = m(x)
    assert y.shape == (2, 3, 24, 40)
    assert 0 <= y.min() and y.max() <= 1


def test_size_must_be_divisible():
    m = UNet(UNetConfig(base=4, depth=3))
    with pytest.raises(ValueError, match="divisible by 8"):
        m(torch.rand(1, 3, 20, 16))


def test_dense_bottleneck_latent():
    c = UNetConfig(in_channels=1, out_channels=1, base=4, depth=2, bottleneck=16, image_size=32, latent_act="tanh")
    m = UNet(c).eval()
    x = torch.rand(5, 1, 32, 32)
    z = m.latent(x)
    assert z.shape == (5, 16)
    assert z.abs().max() <= 1  # tanh
    assert m(x).shape == x.shape


def test_skips_change_what_the_decoder_sees():
    """With skips the output depends on fine detail that a bottleneck-only path cannot carry."""
    torch.manual_seed(0)
    m = UNet(UNetConfig(base=4, depth=2, skips=True)).eval()
    x = torch.rand(1, 3, 16, 16)
    x2 = x.clone()
    x2[..., 0, 0] += 0.5  # one pixel
    assert not torch.allclose(m(x)[..., 0, 0], m(x2)[..., 0, 0])


def test_bad_config_lists_valid_values():
    with pytest.raises(ValueError, match="sigmoid"):
        UNetConfig(output="softmax")
    with pytest.raises(ValueError, match="divisible"):
        UNetConfig(bottleneck=8, image_size=30, depth=2)
