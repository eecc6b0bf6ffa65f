import contextlib
import os

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY = dict(in_channels=3, out_channels=3, base=4, depth=2)


@pytest.fixture(scope="session", autouse=True)
def no_live_folders_left():
    """Live jobs run in tests outside any browser session, so no session end deletes their download folders: the
    test session does, once it is over."""
    import shutil
    import tempfile
    from pathlib import Path

    def folders() -> set:
        return set(Path(tempfile.gettempdir()).glob("unetlab-live-*"))

    before = folders()
    yield
    for f in folders() - before:
        shutil.rmtree(f, ignore_errors=True)


def tiny_card(name: str, skips: bool) -> dict:
    return {
        "name": name,
        "task": "reconstruct",
        "model": "unet",
        "config": {**TINY, "skips": skips},
        "params": 0,
        "recipe": name,
        "command": f"python -m unetlab train --recipe {name}",
        "history": [{"epoch": e, "train_loss": 0.1 / e, "test_loss": 0.12 / e, "psnr": 10.0 + e} for e in (1, 2)],
        "metrics": {"heldout_psnr": 20.0},
    }


@pytest.fixture
def weights_dir(tmp_path):
    """A weights folder holding two tiny, untrained reconstruct models (with and without skips)."""
    from unetlab import registry

    torch.manual_seed(0)
    for name, skips in (("tiny-noskip", False), ("tiny-skip", True)):
        model = registry.build("unet", {**TINY, "skips": skips})
        registry.save(model, tiny_card(name, skips), tmp_path)
    return tmp_path


@contextlib.contextmanager
def serve(weights, port: int, settings=None, memory=None):
    """The app over a weights folder, launched in-process on loopback; yields a gradio_client.Client. settings: a
    unetlab.settings.Settings (default: the defaults); memory: the server's budget.Budget (default: from settings)."""
    from gradio_client import Client

    import app
    from unetlab import registry
    from unetlab.settings import Settings

    demo = app.build_app(registry.Registry(weights), settings or Settings(), memory)
    demo.queue().launch(prevent_thread_lock=True, server_port=port, quiet=True, max_file_size="5mb")
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()
