"""Colour augmentation and synthetic images: deterministic, in range, and doing what their names say."""

import math

import pytest
import torch

from unetlab import augment


def test_a_third_of_a_turn_about_the_grey_axis_cycles_the_channels():
    x = torch.rand(1, 3, 4, 4)
    r = augment.hue_rotation(torch.tensor([2 * math.pi / 3]))[0]
    y = torch.einsum("ij,jhw->ihw", r, x[0])
    assert torch.allclose(y, x[0, [2, 0, 1]], atol=1e-5)  # R -> G -> B -> R
    grey = torch.full((3, 1, 1), 0.4)
    assert torch.allclose(torch.einsum("ij,jhw->ihw", r, grey), grey, atol=1e-6)  # grey stays grey


def test_colour_is_deterministic_in_range_and_changes_colours():
    x = torch.rand(64, 3, 8, 8)
    a = augment.colour(x, torch.Generator().manual_seed(3))
    b = augment.colour(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape
    assert 0 <= a.min() and a.max() <= 1
    changed = (a - x).abs().flatten(1).amax(1) > 1e-3
    assert 0.5 < changed.float().mean() < 1  # most crops altered (four coins of 1/2 each), some left alone
    grey = torch.rand(4, 1, 8, 8)
    assert augment.colour(grey, torch.Generator()) is grey  # grey data: nothing to do


def test_synthetic_images_are_deterministic_varied_and_in_range():
    a = augment.synthetic(32, 48, torch.Generator().manual_seed(0))
    b = augment.synthetic(32, 48, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (32, 3, 48, 48)
    assert 0 <= a.min() and a.max() <= 1
    saturation = (a.amax(1) - a.amin(1)).flatten(1).amax(1)
    assert (saturation > 0.6).float().mean() > 0.5  # mostly strong colours, what photos lack
    assert len({round(float(s), 3) for s in a.std((1, 2, 3))}) > 25  # not one image repeated


def test_tone_inverts_and_darkens_about_a_quarter_of_the_images_each():
    x = torch.rand(4000, 3, 2, 2) * 0.5 + 0.5  # all bright
    y = augment.tone(x, torch.Generator().manual_seed(0))
    assert torch.equal(y, augment.tone(x, torch.Generator().manual_seed(0)))
    assert 0 <= y.min() and y.max() <= 1
    changed = (y != x).flatten(1).any(1).float().mean().item()
    assert 0.40 < changed < 0.47  # 1 - (3/4)^2 of the images
    dark = (y.flatten(1).mean(1) < 0.45).float().mean().item()  # inverted, darkened, or both
    assert 0.40 < dark < 0.47


def test_augmenter_replaces_a_quarter_of_the_batch_and_parses_its_spec():
    x = torch.rand(8, 3, 16, 16)
    y = augment.augmenter("synthetic")(x, torch.Generator().manual_seed(0))
    assert torch.equal(y[:6], x[:6]) and not torch.equal(y[6:], x[6:])
    assert augment.augmenter("") is None and augment.augmenter("none") is None
    assert augment.parse("colour+synthetic") == ("colour", "synthetic")
    assert augment.parse("colour+synthetic+tone") == ("colour", "synthetic", "tone")
    with pytest.raises(ValueError, match="unknown augmentation hue"):
        augment.parse("colour+hue")
