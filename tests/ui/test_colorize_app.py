"""The Colorize tab launched in-process and called through gradio_client, with tiny untrained models."""

import json

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from tests.conftest import serve
from unetlab import colorize, data, registry


def colour_card(name: str, config: dict) -> dict:
    return {"name": name, "task": "colorize", "model": "unet", "config": config, "recipe": name, "metrics": {}}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    tiny = dict(in_channels=colorize.HINT_CHANNELS, base=4, depth=2, output="linear")
    for name, skips in (("tiny-color-noskip", False), ("tiny-color-skip", True)):
        cfg = {**tiny, "out_channels": colorize.bins().count, "skips": skips}
        registry.save(registry.build("unet", cfg), colour_card(name, cfg), weights)
    cfg = {**tiny, "in_channels": 1, "out_channels": 3, "output": "sigmoid", "skips": True}
    registry.save(registry.build("unet", cfg), colour_card("tiny-color-mse", cfg), weights)
    with serve(weights, 7897) as client:
        yield client


def test_colorize_endpoint_full_resolution(client):
    photo = data.heldout_photo_paths()["coffee"]
    canvas, coloured, other, L, a, b, info = client.predict(
        handle_file(photo), "tiny-color-skip", "tiny-color-noskip", "[]", api_name="/colorize"
    )
    assert Image.open(coloured).size == Image.open(other).size == (600, 400)  # the upload's own size
    g = np.asarray(Image.open(canvas).convert("RGB")).astype(int)
    assert Image.open(canvas).size == (600, 400) and np.abs(g[..., 0] - g[..., 1]).max() <= 6  # grey (a JPEG)
    assert Image.open(L).size == Image.open(a).size == Image.open(b).size == (384, 256)  # the working size
    assert "600x400 upload" in info and "384x256" in info and "0 hint(s)" in info


def test_hints_through_the_api(client):
    photo = data.heldout_photo_paths()["coffee"]
    hints = [{"x": 100, "y": 50, "color": "#ff0000"}, {"x": 500, "y": 300, "color": "#0040ff"}]
    canvas, coloured, other, *_, info = client.predict(
        handle_file(photo), "tiny-color-skip", "tiny-color-mse", json.dumps(hints), api_name="/colorize"
    )
    assert "2 hint(s)" in info and "tiny-color-mse takes no hints" in info  # the L*-only model runs automatically
    drawn = np.asarray(Image.open(canvas).convert("RGB")).astype(int)
    assert drawn[50, 100, 0] > 200 and drawn[50, 100, 2] < 80  # the hint's dot is drawn where it was placed
    for bad, message in [
        ('[{"x": 600, "y": 5, "color": "#ff0000"}]', "outside the 600x400 image"),
        ('[{"x": 6, "y": 5, "color": "crimson"}]', "bad colour"),
        ("[{", "not valid JSON"),
        (json.dumps([{"x": 1, "y": 1, "color": "#000000"}] * (colorize.MAX_HINTS + 1)), "too many"),
    ]:
        with pytest.raises(Exception, match=message):
            client.predict(handle_file(photo), "tiny-color-skip", None, bad, api_name="/colorize")


def test_grey_upload_and_rgb_model(client, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(0, 250, 5, dtype=np.uint8), (40, 1))).save(grey)
    _, coloured, other, *_ = client.predict(handle_file(str(grey)), "tiny-color-mse", None, "", api_name="/colorize")
    assert Image.open(coloured).size == (50, 40) and other is None


def test_bad_upload_and_wrong_model(client, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(Exception, match="could not be decoded|not an image"):
        client.predict(handle_file(str(bad)), "tiny-color-skip", None, "[]", api_name="/colorize")
    ok = data.heldout_photo_paths()["chelsea"]
    with pytest.raises(Exception, match="unknown model 'recon-skip'; valid names: tiny-color"):
        client.predict(handle_file(ok), "recon-skip", None, "[]", api_name="/colorize")
    _, coloured, *_ = client.predict(handle_file(ok), "tiny-color-skip", None, "[]", api_name="/colorize")
    assert Image.open(coloured).size == (451, 300)


def test_the_user_picks_how_hints_spread(client):
    """fill: the card's own (the default, as a 4-argument call gets it), the nearest-hint fill or the edge-aware one;
    the model is given a different input, so the result changes, and the info says which fill ran. A bad name is
    refused with the valid ones. (The edge-aware fill itself: tests/test_colorize.py.)"""
    photo = data.heldout_photo_paths()["coffee"]
    hints = json.dumps([{"x": 100, "y": 50, "color": "#ff0000"}, {"x": 500, "y": 300, "color": "#0040ff"}])
    results = {}
    for fill in ("nearest", "edges"):
        _, coloured, _, *_, info = client.predict(
            handle_file(photo), "tiny-color-skip", None, hints, fill, api_name="/colorize"
        )
        assert f"tiny-color-skip: the {fill} fill" in info
        results[fill] = np.asarray(Image.open(coloured).convert("RGB")).astype(int)
    assert (results["nearest"] != results["edges"]).any()  # an untrained model: small, but a different input
    *_, info = client.predict(handle_file(photo), "tiny-color-skip", None, hints, api_name="/colorize")
    assert "the nearest fill" in info  # a card without a fill: the one the model was trained with
    with pytest.raises(Exception, match=r"'magic'.* not in the list of choices: \['card', 'nearest', 'edges'\]"):
        client.predict(handle_file(photo), "tiny-color-skip", None, hints, "magic", api_name="/colorize")
