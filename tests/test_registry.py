import json

import pytest
import torch

from unetlab import registry
from unetlab.registry import Registry, RegistryError, WeightsError


def test_lazy_load_and_cache(weights_dir):
    reg = Registry(weights_dir)
    assert reg.names() == ["tiny-noskip", "tiny-skip"]
    assert reg.names("reconstruct") == ["tiny-noskip", "tiny-skip"]
    assert reg.names("colorize") == []
    assert reg.entry("tiny-skip").module is None  # nothing loaded until asked
    m = reg.load("tiny-skip")
    assert reg.load("tiny-skip") is m
    assert not m.training
    assert reg.entry("tiny-noskip").module is None


def test_round_trip_is_exact_in_float32(tmp_path):
    torch.manual_seed(1)
    model = registry.build("unet", {"base": 4, "depth": 2})
    card = {"name": "m", "task": "reconstruct", "model": "unet", "config": {"base": 4, "depth": 2}}
    path = registry.save(model, card, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["sha256"] == registry.sha256(tmp_path / "m.safetensors")
    loaded = Registry(tmp_path).load("m")
    ref = model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(model.eval()(x), loaded(x))  # loaded channels_last: same maths, other order


def test_unknown_name_lists_valid_names(weights_dir):
    with pytest.raises(RegistryError) as e:
        Registry(weights_dir).load("nope")
    assert "tiny-noskip, tiny-skip" in str(e.value)


def test_sha_mismatch_names_file_and_command(weights_dir):
    w = weights_dir / "tiny-skip.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    reg = Registry(weights_dir)
    with pytest.raises(WeightsError) as e:
        reg.load("tiny-skip")
    assert "tiny-skip.safetensors" in str(e.value)
    assert "python -m unetlab train --recipe tiny-skip" in str(e.value)
    assert reg.load("tiny-noskip") is not None  # the rest keeps working


def test_missing_weights(weights_dir):
    (weights_dir / "tiny-noskip.safetensors").unlink()
    reg = Registry(weights_dir)
    with pytest.raises(WeightsError, match="missing.*rebuild it with: python -m unetlab train --recipe tiny-noskip"):
        reg.load("tiny-noskip")
    reg.load("tiny-skip")


def test_truncated_file_without_sha(weights_dir):
    card = weights_dir / "tiny-skip.json"
    c = json.loads(card.read_text())
    del c["sha256"]
    card.write_text(json.dumps(c))
    (weights_dir / "tiny-skip.safetensors").write_bytes(b"\x08\x00")
    with pytest.raises(WeightsError, match="cannot be read"):
        Registry(weights_dir).load("tiny-skip")


def test_runtime_register(weights_dir):
    reg = Registry(weights_dir)
    model = registry.build("unet", {"base": 4, "depth": 2, "skips": False})
    reg.register("mine", "reconstruct", "unet", {"base": 4, "depth": 2, "skips": False}, model, {"history": []})
    assert "mine" in reg.names("reconstruct")
    assert reg.load("mine") is model
    assert reg.entry("mine").card["name"] == "mine"


def test_resolve_by_path(weights_dir):
    for path in (weights_dir / "tiny-skip.json", weights_dir / "tiny-skip.safetensors"):
        entry, model = registry.resolve(str(path))
        assert entry.name == "tiny-skip"
    with pytest.raises(WeightsError, match="expected a card"):
        registry.resolve(str(weights_dir / "nothing.safetensors"))


def test_unknown_model_class():
    with pytest.raises(
        RegistryError, match="known: ae, classifier, contractive-ae, dae, diffusion, sparse-ae, unet, vae, vq-vae"
    ):
        registry.build("transformer", {})
