"""The app admits image events against the memory budget, in one pool, on one torch thread each."""

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from PIL import Image

from tests.conftest import serve
from unetlab import budget, hardware, registry
from unetlab.settings import Settings
from unetlab.ui import admission, reconstruct


def _png(path, w, h):
    Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(path)
    return handle_file(str(path))


def test_an_upload_is_admitted_against_the_budget_and_given_back(weights_dir, tmp_path):
    small = budget.Budget(int(1e9), wait=5)
    cost = reconstruct.memory(Settings().compare_pixels)
    with serve(weights_dir, 7876, memory=small) as client:
        out = client.predict(_png(tmp_path / "ok.png", 64, 48), "tiny-noskip", "tiny-skip", api_name="/reconstruct")
        assert Image.open(out[0]).size == (64, 48)
        assert small.peak == cost(64 * 48) and small.in_use == 0  # reserved, then given back

        big = _png(tmp_path / "big.png", 2000, 1500)  # 3 Mpx: more work than the whole budget
        need, fits = cost(3_000_000) / 1e9, cost.max_pixels(1e9) // 100_000 / 10
        assert need > 1 and 0 < fits < 3
        expected = rf"reconstructing this 2000x1500 image \(3\.0 Mpx\) needs about {need:.1f} GB.*the 1\.0 GB"
        expected += rf".*UNETLAB_MEMORY_BUDGET.*at most {fits:g} Mpx\."
        with pytest.raises(Exception, match=expected):
            client.predict(big, "tiny-noskip", "tiny-skip", api_name="/reconstruct")
        assert small.refused == 1 and small.in_use == 0

        with pytest.raises(Exception, match="unknown model .nope."):  # fails after admission: still released
            client.predict(_png(tmp_path / "ok2.png", 64, 48), "nope", "tiny-skip", api_name="/reconstruct")
        assert small.in_use == 0


def test_image_events_share_one_pool_and_the_rest_keep_theirs(weights_dir):
    import app

    demo = app.build_app(registry.Registry(weights_dir), Settings(image_pool=True))  # off by default: measured slower
    pooled = {f.fn.__name__ for f in demo.fns.values() if f.concurrency_id == admission.GROUP}
    # every event that takes a tab's photo, shown or hidden from the API, and nothing else
    assert {"reconstruct", "run_colorize", "on_click", "recolour", "edited"} <= pooled
    assert not pooled & {"train", "stop", "sample", "refresh"}
    limits = {f.concurrency_limit for f in demo.fns.values() if f.concurrency_id == admission.GROUP}
    assert limits == {hardware.cores()}
    plain = app.build_app(registry.Registry(weights_dir))
    assert not any(f.concurrency_id == admission.GROUP for f in plain.fns.values())


def test_image_work_runs_on_its_own_torch_threads():
    before = torch.get_num_threads()
    run = admission._on_threads(lambda: torch.get_num_threads(), 1)
    torch.set_num_threads(2)
    try:
        assert run() == 1 and torch.get_num_threads() == 2  # set for the call, restored for the next one
    finally:
        torch.set_num_threads(before)
