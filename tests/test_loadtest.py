"""The load script on tiny models: every request answered, the training job streams and Stop ends it."""

from unetlab import colorize, loadtest, registry


def test_load_script_small(weights_dir):
    tiny = dict(in_channels=1, base=4, depth=2, output="linear", out_channels=colorize.bins().count)
    for name, skips in (("tiny-color-skip", True), ("tiny-color-noskip", False)):
        card = {"name": name, "task": "colorize", "model": "unet", "config": {**tiny, "skips": skips}, "recipe": name}
        registry.save(registry.build("unet", card["config"]), card, weights_dir)
    r = loadtest.run(
        weights_dir,
        clients=3,
        rounds=1,
        port=7951,
        reconstruct_models=("tiny-noskip", "tiny-skip"),
        colorize_models=("tiny-color-skip", "tiny-color-noskip"),
    )
    assert r["errors"] == 0, r["error_samples"]
    assert r["latency"]["/colorize"]["n"] == r["latency"]["/reconstruct"]["n"] == 3
    assert r["train"]["stopped"] and r["train"]["epochs_done"] >= 1
    assert "3 clients" in loadtest.format(r)
