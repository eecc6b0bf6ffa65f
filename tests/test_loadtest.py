"""The load script on tiny models: every request answered, the training job streams and Stop ends it; where the time
and the memory went."""

import numpy as np
from PIL import Image

from unetlab import colorize, loadtest, registry


def _tiny_colorizers(weights_dir):
    tiny = dict(in_channels=1, base=4, depth=2, output="linear", out_channels=colorize.bins().count)
    for name, skips in (("tiny-color-skip", True), ("tiny-color-noskip", False)):
        card = {"name": name, "task": "colorize", "model": "unet", "config": {**tiny, "skips": skips}, "recipe": name}
        registry.save(registry.build("unet", card["config"]), card, weights_dir)


TINY_MODELS = dict(
    reconstruct_models=("tiny-noskip", "tiny-skip"), colorize_models=("tiny-color-skip", "tiny-color-noskip")
)


def test_load_script_small(weights_dir):
    _tiny_colorizers(weights_dir)
    r = loadtest.run(weights_dir, clients=3, rounds=1, port=7951, **TINY_MODELS)
    assert r["errors"] == 0, r["error_samples"]
    assert r["latency"]["/colorize"]["n"] == r["latency"]["/reconstruct"]["n"] == 3
    assert r["train"]["stopped"] and r["train"]["epochs_done"] >= 1
    assert r["requests_per_second"] > 0 and r["server_cpu_seconds"] > 0 and r["clients_cpu_seconds"] > 0
    for api in ("/colorize", "/reconstruct"):
        split = r["split_ms"][api]
        assert set(split) == {"decode", "handler", "encode", "admission", "queue_and_transfer"}
        assert split["handler"] > 0 and split["decode"] > 0 and split["encode"] > 0 and split["admission"] >= 0
    assert r["rss_mb"]["peak"] >= r["rss_mb"]["before"] > 100  # the app's process, models loaded
    assert 0 < r["memory_budget"]["peak_in_use_gb"] <= r["memory_budget"]["budget_gb"]
    assert r["pool"] is None and r["baseline"]  # what the app runs by default
    text = loadtest.format(r)
    assert "3 clients" in text and "requests/s" in text and "peak RSS" in text and "handler" in text


def test_one_large_image_without_training_against_the_baseline(weights_dir, tmp_path):
    """The --mpx and --pool modes: every client sends the one image; one pool of the cores; no training job."""
    _tiny_colorizers(weights_dir)
    image = loadtest.large_image(0.02, tmp_path)
    w, h = Image.open(image).size
    assert abs(w * h - 20_000) < 300 and abs(w / h - 4 / 3) < 0.02
    r = loadtest.run(weights_dir, clients=2, rounds=1, port=7952, image=image, pool=True, train_epochs=0, **TINY_MODELS)
    assert r["errors"] == 0, r["error_samples"]
    assert r["train"] is None and not r["baseline"] and r["pool"] >= 1 and r["image"] == image.name
    assert "pool of" in loadtest.format(r) and "/train" not in loadtest.format(r)


def test_peak_rss_is_seen():
    with loadtest.RssSampler(every=0.01) as rss:
        block = np.ones(200 * 2**20, np.uint8)  # 200 MB, touched
        del block
    assert rss.peak_kb - rss.start_kb > 150 * 1024


def test_split_of_a_request():
    timings = {"colorize": {"event": 3.0, "decode": 0.2, "handler": 1.5, "encode": 0.3}}
    split = loadtest._split("/colorize", timings, [2.0, 4.0])  # two requests, 3 s on average at the client
    server = {"decode": 100.0, "handler": 750.0, "encode": 150.0, "admission": 500.0}  # ms per request
    assert split == server | {"queue_and_transfer": 1500.0}  # the rest of the 3 s
    assert loadtest._split("/reconstruct", timings, [1.0]) == {}
