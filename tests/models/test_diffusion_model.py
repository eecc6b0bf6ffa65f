import pytest
import torch
from diffusers import UNet2DConditionModel

from tests.diffusion_fixtures import TINY, tiny_model
from unetlab.models.diffusion import DiffusionConfig


def test_the_unet_is_sds_class_with_cross_attention_blocks():
    model = tiny_model()
    assert isinstance(model.unet, UNet2DConditionModel)
    config = model.unet.config
    assert "CrossAttnDownBlock2D" in config.down_block_types
    assert "CrossAttnUpBlock2D" in config.up_block_types
    assert config.mid_block_type == "UNetMidBlock2DCrossAttn"
    assert config.cross_attention_dim == TINY["token_dim"]


def test_shapes():
    model = tiny_model().eval()
    x = torch.randn(3, 1, 8, 8)
    labels = torch.tensor([0, 7, 10])  # 10: the null token (classes)
    assert model.prompt(labels).shape == (3, TINY["tokens"], TINY["token_dim"])
    with torch.no_grad():
        assert model(x, torch.tensor([0, 10, 49]), labels).shape == (3, 1, 8, 8)


def test_the_prompt_changes_the_output():
    model = tiny_model().eval()
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([25])
    with torch.no_grad():
        outs = [model(x, t, torch.tensor([c])) for c in (3, 8, 10)]
    assert not torch.allclose(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2])


def test_unknown_prediction_type_lists_the_valid_ones():
    with pytest.raises(ValueError, match="epsilon.*sample.*v_prediction"):
        DiffusionConfig(prediction_type="velocity")


def test_the_scheduler_carries_the_prediction_type():
    assert tiny_model("sample").scheduler().config.prediction_type == "sample"
    assert tiny_model("epsilon").scheduler().config.prediction_type == "epsilon"
    assert tiny_model("v_prediction").scheduler().config.prediction_type == "v_prediction"


def test_attention_starts_at_the_asked_level():
    """attention_from = 2: the MNIST models' shape, plain blocks at 28x28 and 14x14, cross-attention at 7x7 only."""
    c = DiffusionConfig(image_size=28, widths=(8, 16, 16), attention_from=2, heads=2, token_dim=8).unet().config
    assert c.down_block_types == ("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D")
    assert c.up_block_types == ("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D")
    assert c.mid_block_type == "UNetMidBlock2DCrossAttn"
    with pytest.raises(ValueError, match="attention_from must be between 0 and 2"):
        DiffusionConfig(widths=(8, 16, 16), attention_from=3).unet()
