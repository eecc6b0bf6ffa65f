"""Settings: read from the environment in one place, with their defaults; nothing else reads it."""

import re
from pathlib import Path

import pytest

from unetlab.settings import ENV, Settings


def test_defaults_when_nothing_is_set():
    s = Settings.from_env({})
    assert s == Settings()
    assert s.weights.name == "weights" and s.share_live is False and s.live_idle == 3600 and s.max_pixels == 40_000_000


def test_values_are_read_and_typed():
    env = {
        "UNETLAB_WEIGHTS": "/srv/w",
        "UNETLAB_SHARE_LIVE": "yes",
        "UNETLAB_LIVE_IDLE": "90",
        "UNETLAB_MAX_PIXELS": "1000000",
        "GRADIO_SERVER_PORT": "7000",
        "UNETLAB_SD_PATH": "  ",  # blank: the default
    }
    s = Settings.from_env(env)
    assert s.weights == Path("/srv/w") and s.share_live is True and s.live_idle == 90.0
    assert s.max_pixels == 1_000_000 and s.server_port == 7000 and s.sd_path == ""
    assert Settings.from_env({"UNETLAB_SHARE_LIVE": "0"}).share_live is False


@pytest.mark.parametrize(
    "name, value", [("UNETLAB_MAX_PIXELS", "lots"), ("UNETLAB_SHARE_LIVE", "maybe"), ("GRADIO_SERVER_PORT", "7.5")]
)
def test_a_value_that_cannot_be_read_names_its_variable(name, value):
    with pytest.raises(ValueError, match=f"{name}='{re.escape(value)}' cannot be read"):
        Settings.from_env({name: value})


def test_every_setting_has_its_own_variable():
    assert len(set(ENV.values())) == len(ENV) and set(ENV) == set(Settings.__dataclass_fields__)


def test_train_threads_zero_means_half_the_cores():
    assert Settings(train_threads=3).threads == 3 and Settings().threads >= 1


def test_nothing_else_reads_the_environment():
    """settings.py is the one reader: no other module looks a variable up (app.py sets two for its libraries, and
    loadtest hands its environment to the app it starts)."""
    root = Path(__file__).resolve().parent.parent
    readers = [
        f"{p.relative_to(root)}:{i}"
        for p in [*(root / "unetlab").rglob("*.py"), root / "app.py"]
        if p.name != "settings.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"os\.environ\.get|os\.environ\[|os\.getenv|in os\.environ", line)
    ]
    assert readers == []


def test_the_app_refuses_a_bad_setting_in_one_line():
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = os.environ | {"UNETLAB_LIVE_IDLE": "an hour"}
    done = subprocess.run([sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    message = "error: UNETLAB_LIVE_IDLE='an hour' cannot be read as a float (could not convert string to float: "
    assert done.stderr == message + "'an hour')\n"
