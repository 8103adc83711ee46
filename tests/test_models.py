"""The models layer: model cards, safe checkpoints, architectures, devices, preprocessing."""
from __future__ import annotations

import json
import math
import os
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from medxai_desktop.core.models import (CheckpointError, LoadedModel, ModelCard, ModelCardError,
                                        architecture_names, get_architecture, load_card,
                                        load_model, model_from_checkpoint, random_model,
                                        read_state_dict, register_architecture, select_device,
                                        sha256_of_file, to_model_tensor)
from medxai_desktop.core.models.architectures import Architecture
from medxai_desktop.core.models.card import IMAGENET_MEAN, IMAGENET_STD, REQUIRED_KEYS
from medxai_desktop.core.models.preprocessing import from_model_tensor

CLASSES = ["glioma", "meningioma", "pituitary", "no_tumor"]


# --------------------------------------------------------------------------------------------
# shared fixtures: one resnet18 reference module and its checkpoint files
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ref_module() -> torch.nn.Module:
    torch.manual_seed(1234)
    module = torchvision.models.resnet18(weights=None, num_classes=len(CLASSES)).eval()
    # Non-trivial BatchNorm statistics, so that a checkpoint whose running stats were not
    # loaded would give different logits.
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return module


@pytest.fixture(scope="module")
def x_small() -> torch.Tensor:
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(7))


@pytest.fixture(scope="module")
def ref_logits(ref_module, x_small) -> torch.Tensor:
    with torch.no_grad():
        return ref_module(x_small)


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory, ref_module) -> Path:
    """A folder with the reference state_dict saved in several ways."""
    folder = tmp_path_factory.mktemp("ckpts")
    state = ref_module.state_dict()
    (folder / "weights").mkdir()
    torch.save(state, folder / "weights" / "plain.pt")
    torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in state.items()},
               folder / "fp16.pt")
    torch.save({"state_dict": state, "epoch": 12, "best_auc": 0.91}, folder / "wrapped.pt")
    torch.save(OrderedDict(("module." + k, v) for k, v in state.items()), folder / "dp.pt")
    torch.save({"model": OrderedDict(("module." + k, v) for k, v in state.items())},
               folder / "wrapped_dp.pt")
    return folder


def _card(ckpt_dir: Path, checkpoint: str, **changes) -> ModelCard:
    """A card saved in ckpt_dir naming `checkpoint` (relative) with its real sha256."""
    fields = dict(arch="resnet18", classes=list(CLASSES), input_size=(224, 224),
                  mean=IMAGENET_MEAN, std=IMAGENET_STD, target_layer="layer4",
                  checkpoint=checkpoint, sha256=sha256_of_file(ckpt_dir / checkpoint))
    fields.update(changes)
    card = ModelCard(**fields)
    card.save(ckpt_dir / f"card_{Path(checkpoint).stem}_{len(changes)}.json")
    return card


def _logits(model: LoadedModel, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.module(x.to(model.device)).cpu()


def _assert_frozen_eval(model: LoadedModel) -> None:
    params = list(model.module.parameters())
    assert params and not any(p.requires_grad for p in params)
    assert not any(m.training for m in model.module.modules())


# --------------------------------------------------------------------------------------------
# 1. model cards
# --------------------------------------------------------------------------------------------

def _card_dict(**changes) -> dict:
    data = {"arch": "resnet18", "classes": ["a", "b", "c"], "input_size": [224, 200],
            "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "target_layer": "layer4",
            "checkpoint": "weights/model.pt", "sha256": "ab" * 32,
            "description": "brain MRI, 4 classes", "crosseai": {"alpha": 0.3, "tau": 0.6}}
    data.update(changes)
    return data


def _write_json(path: Path, data, **dump_kwargs) -> Path:
    path.write_text(json.dumps(data, **dump_kwargs), encoding="utf-8")
    return path


def test_card_round_trip_keeps_required_keys_and_metadata(tmp_path):
    card = ModelCard(arch="densenet121", classes=["normal", "pneumonia", "covid"],
                     input_size=(256, 192), mean=(0.5, 0.45, 0.4), std=(0.2, 0.21, 0.22),
                     target_layer="features.denseblock4", checkpoint="weights/dn121.pt",
                     sha256="0123456789abcdef" * 4,
                     metadata={"description": "chest x-ray", "crosseai": {"alpha": 0.3},
                               "version": 3})
    path = card.save(tmp_path / "card.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    for key in REQUIRED_KEYS:
        assert key in raw, key
    assert raw["checkpoint"] == "weights/dn121.pt"  # kept relative, not made absolute

    back = load_card(path)
    assert back.arch == "densenet121"
    assert back.classes == ["normal", "pneumonia", "covid"]
    assert back.input_size == (256, 192)
    assert back.mean == (0.5, 0.45, 0.4)
    assert back.std == (0.2, 0.21, 0.22)
    assert back.target_layer == "features.denseblock4"
    assert back.checkpoint == "weights/dn121.pt"
    assert back.sha256 == "0123456789abcdef" * 4
    assert back.metadata == {"description": "chest x-ray", "crosseai": {"alpha": 0.3},
                             "version": 3}
    assert back.path == path.resolve()
    # the checkpoint is resolved relative to the card's folder, not the working directory
    assert back.checkpoint_path == (tmp_path / "weights" / "dn121.pt").resolve()
    assert back.card_hash == card.card_hash
    assert back.to_dict() == card.to_dict()


def test_card_hash_survives_round_trip_with_int_values(tmp_path):
    """A card built in code with int mean/std must hash like the same card read back."""
    card = ModelCard("resnet18", ["a", "b"], (224, 224), (0, 0, 0), (1, 1, 1), "layer4",
                     "m.pt", None)
    card.save(tmp_path / "card.json")
    assert load_card(tmp_path / "card.json").card_hash == card.card_hash


def test_card_sha256_is_normalised_to_lowercase(tmp_path):
    path = _write_json(tmp_path / "c.json", _card_dict(sha256="AB" * 32))
    assert load_card(path).sha256 == "ab" * 32


def test_card_hash_ignores_key_order_and_whitespace(tmp_path):
    data = _card_dict()
    a = _write_json(tmp_path / "a.json", data)
    b = _write_json(tmp_path / "b.json", dict(reversed(list(data.items()))), indent=7)
    assert a.read_text() != b.read_text()
    ha, hb = load_card(a).card_hash, load_card(b).card_hash
    assert ha == hb
    assert len(ha) == 64 and int(ha, 16) >= 0


@pytest.mark.parametrize("change", [
    {"arch": "resnet50"}, {"classes": ["a", "c", "b"]}, {"input_size": [224, 224]},
    {"mean": [0.5, 0.4, 0.31]}, {"std": [0.2, 0.25, 0.31]}, {"target_layer": "layer3"},
    {"checkpoint": "weights/other.pt"}, {"sha256": "cd" * 32},
    {"description": "brain MRI, 3 classes"}, {"crosseai": {"alpha": 0.3, "tau": 0.61}},
    {"new_metadata_key": 1},
])
def test_card_hash_changes_when_a_value_changes(tmp_path, change):
    base = load_card(_write_json(tmp_path / "base.json", _card_dict())).card_hash
    changed = load_card(_write_json(tmp_path / "changed.json", _card_dict(**change))).card_hash
    assert changed != base


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_card_missing_required_key_names_key_and_file(tmp_path, key):
    data = _card_dict()
    del data[key]
    path = _write_json(tmp_path / f"no_{key}.json", data)
    with pytest.raises(ModelCardError) as info:
        load_card(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert key in info.value.reason
    assert info.value.path == path


@pytest.mark.parametrize("text", [
    "{not json",
    "",
    "[1, 2, 3]",
    '"just a string"',
    json.dumps(_card_dict(input_size="big")),
    json.dumps(_card_dict(input_size=[224])),
    json.dumps(_card_dict(input_size=[224, 224, 3])),
    json.dumps(_card_dict(input_size=[8, 8])),
    json.dumps(_card_dict(input_size=None)),
    json.dumps(_card_dict(input_size={"h": 224, "w": 224})),
    json.dumps(_card_dict(classes=["a", "b", "a"])),
    json.dumps(_card_dict(classes=["only_one"])),
    json.dumps(_card_dict(classes="abc")),
    json.dumps(_card_dict(mean=[0.5, 0.5])),
    json.dumps(_card_dict(mean="123")),
    json.dumps(_card_dict(std=[0.2, 0.0, 0.2])),
    json.dumps(_card_dict(std=[0.2, float("nan"), 0.2])),
    json.dumps(_card_dict(target_layer="")),
], ids=["bad-json", "empty", "array", "string", "size-str", "size-1", "size-3", "size-small",
        "size-null", "size-dict", "dup-classes", "one-class", "classes-str", "mean-2",
        "mean-str", "std-zero", "std-nan", "layer-empty"])
def test_malformed_card_error_starts_with_path(tmp_path, text):
    path = tmp_path / "bad_card.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelCardError) as info:
        load_card(path)
    assert str(info.value).startswith(str(path) + ": ")
    assert info.value.path == path


def test_missing_card_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(ModelCardError, match="not found") as info:
        load_card(path)
    assert str(info.value).startswith(str(path))


def test_card_input_size_number_means_square(tmp_path):
    card = load_card(_write_json(tmp_path / "c.json", _card_dict(input_size=192)))
    assert card.input_size == (192, 192)


# --------------------------------------------------------------------------------------------
# 2. checkpoints
# --------------------------------------------------------------------------------------------

def test_plain_state_dict_loads_with_identical_predictions(ckpt_dir, x_small, ref_logits):
    card = _card(ckpt_dir, "weights/plain.pt")
    model = load_model(card.path, device="cpu")  # from the card file on disk
    assert model.card.checkpoint_path == (ckpt_dir / "weights" / "plain.pt").resolve()
    out = _logits(model, x_small)
    assert out.shape == (1, len(CLASSES))
    torch.testing.assert_close(out, ref_logits, rtol=0, atol=1e-5)
    _assert_frozen_eval(model)
    assert model.device == torch.device("cpu")
    assert model.checkpoint_sha256 == sha256_of_file(ckpt_dir / "weights" / "plain.pt")
    prov = model.provenance()
    assert prov["card_sha256"] == card.card_hash
    assert prov["checkpoint_sha256"] == model.checkpoint_sha256
    pred = model.predict(x_small)
    assert pred.class_index == int(ref_logits.argmax())
    assert pred.class_name == CLASSES[pred.class_index]
    assert math.isclose(sum(pred.probabilities.values()), 1.0, rel_tol=1e-5)
    np.testing.assert_allclose(pred.logits, ref_logits[0].numpy(), atol=1e-5)


def test_fp16_state_dict_loads_as_float32(ckpt_dir, x_small, ref_logits, ref_module):
    model = load_model(_card(ckpt_dir, "fp16.pt"), device="cpu")
    weight = model.module.get_parameter("conv1.weight")
    assert weight.dtype == torch.float32
    # the weights really went through fp16 (so this test is not loading the fp32 file)
    assert not torch.equal(weight, ref_module.conv1.weight)
    torch.testing.assert_close(weight, ref_module.conv1.weight.half().float(), rtol=0, atol=0)
    out = _logits(model, x_small)
    rel = (out - ref_logits).abs().max() / ref_logits.abs().max()
    assert rel < 1e-2


@pytest.mark.parametrize("name", ["wrapped.pt", "dp.pt", "wrapped_dp.pt"])
def test_wrapped_and_dataparallel_checkpoints_load(ckpt_dir, x_small, ref_logits, name):
    model = load_model(_card(ckpt_dir, name), device="cpu")
    torch.testing.assert_close(_logits(model, x_small), ref_logits, rtol=0, atol=1e-5)


class _NotATensor:
    """A custom class: its pickle needs a GLOBAL the safe loader does not allow."""

    def __init__(self):
        self.value = 42


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > '{self.marker}'",))


def _evil_checkpoint(folder: Path, kind: str) -> tuple[Path, Path]:
    marker = folder / f"pwned_{kind}.txt"
    path = folder / f"evil_{kind}.pt"
    if kind == "torch_save":
        torch.save(_RunsCode(marker), path)
    elif kind == "inside_state_dict":
        torch.save({"state_dict": {"fc.weight": torch.zeros(4, 512)}, "hook": _RunsCode(marker)},
                   path)
    elif kind == "pickle_protocol5":  # a raw pickle, protocol the safe unpickler cannot parse
        with open(path, "wb") as handle:
            pickle.dump(_RunsCode(marker), handle, protocol=5)
    else:
        raise AssertionError(kind)
    return path, marker


@pytest.mark.parametrize("kind", ["torch_save", "inside_state_dict", "pickle_protocol5"])
def test_code_running_pickle_is_refused_and_never_runs(tmp_path, kind):
    path, marker = _evil_checkpoint(tmp_path, kind)
    card = ModelCard("resnet18", list(CLASSES), (224, 224), IMAGENET_MEAN, IMAGENET_STD,
                     "layer4", path.name, sha256_of_file(path))
    card.save(tmp_path / "card.json")
    with pytest.raises(CheckpointError) as info:
        load_model(card, device="cpu")
    message = str(info.value)
    assert message.startswith(str(path))
    assert "refused" in message
    assert "could run code" in message
    assert not marker.exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match="refused.*could run code"):
            read_state_dict(path)
    assert not marker.exists()
    # the error is the only message: no torch warning about the pickle protocol on stderr
    assert [str(w.message) for w in caught] == []
    # the payload is live: an unsafe load really runs it (so the checks above can fail)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.load(path, weights_only=False)
        except Exception:  # the pickle is no checkpoint; the code ran before that was noticed
            pass
    assert marker.exists()


def test_custom_class_instance_is_refused(tmp_path):
    path = tmp_path / "obj.pt"
    torch.save({"state_dict": {"fc.bias": torch.zeros(4)}, "extra": _NotATensor()}, path)
    with pytest.raises(CheckpointError) as info:
        model_from_checkpoint("resnet18", path, CLASSES, device="cpu")
    assert "refused" in str(info.value) and "could run code" in str(info.value)
    assert "_NotATensor" in str(info.value)


def test_wrong_number_of_classes_names_layer_and_shapes(ckpt_dir):
    torch.manual_seed(0)
    imagenet = torchvision.models.resnet18(weights=None)  # 1000 classes
    torch.save(imagenet.state_dict(), ckpt_dir / "imagenet.pt")
    with pytest.raises(CheckpointError) as info:
        load_model(_card(ckpt_dir, "imagenet.pt"), device="cpu")
    message = str(info.value)
    assert "fc.weight" in message
    assert "(1000, 512)" in message and "(4, 512)" in message
    assert "fc.bias" in message and "(1000,)" in message and "(4,)" in message
    assert "layer4.0.conv1.weight" not in message  # layers that fit are not listed


def test_missing_and_unexpected_layers_are_named(tmp_path, ref_module):
    state = dict(ref_module.state_dict())
    del state["layer3.1.bn2.running_var"]
    torch.save(state, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"missing layer 'layer3\.1\.bn2\.running_var'"):
        model_from_checkpoint("resnet18", tmp_path / "missing.pt", CLASSES, device="cpu")

    state = dict(ref_module.state_dict())
    state["head.extra.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match=r"unexpected layer 'head\.extra\.weight'"):
        model_from_checkpoint("resnet18", tmp_path / "extra.pt", CLASSES, device="cpu")


@pytest.mark.parametrize("content", [
    b"hello world, this is not a checkpoint\n",
    b"arch: resnet18\nclasses: 4\n",
    b'{"fc.weight": [1, 2, 3]}',
    b"",
    bytes(range(256)) * 4,
], ids=["text", "yaml-ish", "json", "empty", "binary"])
def test_unreadable_file_is_not_a_readable_checkpoint(tmp_path, content):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    card = ModelCard("resnet18", list(CLASSES), (224, 224), IMAGENET_MEAN, IMAGENET_STD,
                     "layer4", "weights.pt", sha256_of_file(path))
    card.save(tmp_path / "card.json")
    with pytest.raises(CheckpointError) as info:
        load_model(card, device="cpu")
    assert str(info.value).startswith(str(path))
    assert "not a readable torch checkpoint" in str(info.value)
    assert "refused" not in str(info.value)


def test_checkpoint_that_is_not_a_state_dict(tmp_path):
    torch.save([torch.zeros(2), torch.ones(2)], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a state_dict"):
        read_state_dict(tmp_path / "list.pt")


def test_sha256_mismatch_is_refused(ckpt_dir, x_small, ref_logits):
    card = _card(ckpt_dir, "weights/plain.pt", sha256="0" * 64)
    with pytest.raises(CheckpointError, match="sha256") as info:
        load_model(card, device="cpu")
    assert str(info.value).startswith(str(ckpt_dir / "weights" / "plain.pt"))
    # the same card loads when the check is explicitly switched off
    model = load_model(card, device="cpu", verify_hash=False)
    torch.testing.assert_close(_logits(model, x_small), ref_logits, rtol=0, atol=1e-5)


def test_sha256_of_a_changed_file_no_longer_matches(tmp_path, ref_module):
    path = tmp_path / "m.pt"
    torch.save(ref_module.state_dict(), path)
    card = ModelCard("resnet18", list(CLASSES), (224, 224), IMAGENET_MEAN, IMAGENET_STD,
                     "layer4", "m.pt", sha256_of_file(path))
    card.save(tmp_path / "card.json")
    load_model(card, device="cpu")  # fine as saved
    state = ref_module.state_dict()
    state["fc.bias"] = state["fc.bias"] + 1
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(card, device="cpu")


@pytest.mark.parametrize("layer", ["layer9", "layer4.7", "fc.weight.x", ""])
def test_nonexistent_target_layer_is_a_card_error(ckpt_dir, layer):
    card = _card(ckpt_dir, "weights/plain.pt", target_layer=layer)
    with pytest.raises(ModelCardError) as info:
        load_model(card, device="cpu")
    assert repr(layer) in str(info.value)


def test_missing_checkpoint_file(tmp_path):
    card = ModelCard("resnet18", list(CLASSES), (224, 224), IMAGENET_MEAN, IMAGENET_STD,
                     "layer4", "gone.pt", "0" * 64)
    card.save(tmp_path / "card.json")
    with pytest.raises(CheckpointError, match="not found") as info:
        load_model(tmp_path / "card.json", device="cpu")
    assert info.value.path == tmp_path.resolve() / "gone.pt"


def test_card_without_checkpoint_cannot_be_loaded(tmp_path):
    card = ModelCard("resnet18", list(CLASSES), (224, 224), IMAGENET_MEAN, IMAGENET_STD,
                     "layer4", None, None)
    with pytest.raises(ModelCardError, match="no checkpoint"):
        load_model(card, device="cpu")


def test_card_with_unknown_architecture(ckpt_dir):
    with pytest.raises(ValueError, match="resnet18"):
        load_model(_card(ckpt_dir, "weights/plain.pt", arch="resnet999"), device="cpu")


# --------------------------------------------------------------------------------------------
# 3. model_from_checkpoint and random_model
# --------------------------------------------------------------------------------------------

def test_model_from_checkpoint(ckpt_dir, x_small, ref_logits):
    path = ckpt_dir / "weights" / "plain.pt"
    model = model_from_checkpoint("resnet18", path, CLASSES, device="cpu")
    torch.testing.assert_close(_logits(model, x_small), ref_logits, rtol=0, atol=1e-5)
    assert model.classes == CLASSES
    assert model.target_layer == "layer4"
    assert model.card.sha256 == model.checkpoint_sha256 == sha256_of_file(path)
    assert model.card.checkpoint_path == path.resolve()
    _assert_frozen_eval(model)
    other = model_from_checkpoint("resnet18", path, CLASSES, target_layer="layer3",
                                  input_size=(160, 128), device="cpu")
    assert other.target_layer == "layer3"
    assert other.card.input_size == (160, 128)


def _state(model: LoadedModel) -> dict[str, torch.Tensor]:
    return model.module.state_dict()


def test_random_model_is_seeded():
    a = random_model("resnet18", CLASSES, seed=5, device="cpu")
    b = random_model("resnet18", CLASSES, seed=5, device="cpu")
    c = random_model("resnet18", CLASSES, seed=6, device="cpu")
    sa, sb, sc = _state(a), _state(b), _state(c)
    assert sa.keys() == sb.keys() == sc.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    differing = [k for k in sa if sa[k].is_floating_point() and not torch.equal(sa[k], sc[k])]
    assert "conv1.weight" in differing and "fc.weight" in differing
    _assert_frozen_eval(a)
    assert a.card.checkpoint is None and a.checkpoint_sha256 is None
    assert a.card.metadata == {"random_init": True, "seed": 5}
    assert a.target_layer == "layer4"


def test_random_model_leaves_global_rng_alone():
    torch.manual_seed(99)
    expected = torch.rand(8)
    torch.manual_seed(99)
    random_model("resnet18", CLASSES, seed=1, device="cpu")
    assert torch.equal(torch.rand(8), expected)


def test_random_model_does_not_reseed_accelerator_generators(monkeypatch):
    """torch.manual_seed would (lazily) reseed every CUDA device and never restore it."""
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: calls.append(seed))
    random_model("resnet18", CLASSES, seed=4, device="cpu")
    assert calls == []


# --------------------------------------------------------------------------------------------
# 4. architectures
# --------------------------------------------------------------------------------------------

ARCH_CHANNELS = {"resnet18": 512, "resnet50": 2048, "densenet121": 1024, "vgg16": 512,
                 "efficientnet_b0": 1280}


@pytest.mark.parametrize("name", sorted(ARCH_CHANNELS))
def test_architecture_gives_7x7_map_at_its_target_layer(name):
    arch = get_architecture(name)
    model = random_model(name, ["a", "b", "c"], seed=0, device="cpu")
    assert model.target_layer == arch.default_target_layer
    layer = model.module.get_submodule(arch.default_target_layer)
    assert layer is not model.module
    seen = []
    handle = layer.register_forward_hook(lambda mod, inp, out: seen.append(tuple(out.shape)))
    try:
        with torch.inference_mode():
            logits = model.module(torch.zeros(1, 3, 224, 224))
    finally:
        handle.remove()
    assert tuple(logits.shape) == (1, 3)
    assert seen == [(1, ARCH_CHANNELS[name], 7, 7)]


def test_architecture_names_and_unknown_architecture():
    assert set(ARCH_CHANNELS) <= set(architecture_names())
    with pytest.raises(ValueError) as info:
        get_architecture("alexnet_xl")
    message = str(info.value)
    assert "alexnet_xl" in message
    for name in ARCH_CHANNELS:
        assert name in message
    with pytest.raises(ValueError, match="known"):
        random_model("alexnet_xl", CLASSES, device="cpu")


def test_register_architecture_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_architecture(Architecture("resnet18", lambda n: torch.nn.Linear(2, n), "x"))
    assert get_architecture("resnet18").default_target_layer == "layer4"


# --------------------------------------------------------------------------------------------
# 5. devices
# --------------------------------------------------------------------------------------------

def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def test_auto_device_follows_the_rule():
    expected = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    assert select_device("auto").type == expected
    assert select_device(None).type == expected
    assert select_device("AUTO").type == expected


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (True, False, "cuda"),
                                               (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_preference_order(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    if hasattr(torch.backends, "mps"):
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    elif mps:
        pytest.skip("not applicable here: this torch has no torch.backends.mps")
    assert select_device("auto").type == expected


def test_cpu_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("CPU") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="not applicable here: CUDA is present")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_refused(name):
    with pytest.raises(ValueError, match="not available") as info:
        select_device(name)
    assert repr(name) in str(info.value)


def test_cuda_index_must_exist(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="not available"):
        select_device("cuda:3")
    with pytest.raises(ValueError, match="unknown device"):
        select_device("cuda:first")


@pytest.mark.parametrize("name", ["tpu", "xla", "gpu", "cpux"])
def test_unknown_device_kind(name):
    with pytest.raises(ValueError, match="unknown device"):
        select_device(name)


# --------------------------------------------------------------------------------------------
# 6. preprocessing
# --------------------------------------------------------------------------------------------

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_constant_image_gives_z_scored_constant():
    out = to_model_tensor(np.full((224, 224, 3), 0.5, np.float32), (224, 224), MEAN, STD)
    assert out.shape == (1, 3, 224, 224) and out.dtype == torch.float32
    for c in range(3):
        expected = (0.5 - MEAN[c]) / STD[c]
        assert torch.allclose(out[0, c], torch.full((224, 224), expected), atol=1e-6), c
    # channel order is R, G, B: the three values are distinct and in that order
    assert out[0, 0, 0, 0] == pytest.approx(0.0655, abs=1e-4)
    assert out[0, 1, 0, 0] == pytest.approx(0.1964, abs=1e-4)
    assert out[0, 2, 0, 0] == pytest.approx(0.4178, abs=1e-4)


def test_known_array_without_resize_is_exact():
    rng = np.random.default_rng(0)
    rgb = rng.random((20, 30, 3), dtype=np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = to_model_tensor(rgb, (20, 30), mean, std)
    assert out.shape == (1, 3, 20, 30) and out.dtype == torch.float32
    expected = (rgb - np.float32(mean)) / np.float32(std)
    np.testing.assert_array_equal(out[0].numpy(), expected.transpose(2, 0, 1))
    assert out[0, 2, 5, 7].item() == pytest.approx((rgb[5, 7, 2] - 0.3) / 2.0, abs=1e-6)
    # the inverse gives back the image
    np.testing.assert_allclose(from_model_tensor(out, mean, std), rgb, atol=1e-6)


def test_float64_and_resized_output_is_float32_with_height_width_order():
    out = to_model_tensor(np.zeros((50, 40, 3), np.float64), (96, 64), MEAN, STD)
    assert out.shape == (1, 3, 96, 64)
    assert out.dtype == torch.float32
    assert out.is_contiguous()


@pytest.mark.parametrize("shape", [(40, 30), (40, 30, 1), (224, 224), (224, 224, 1)])
def test_grayscale_is_replicated_to_three_channels(shape):
    gray = np.linspace(0, 1, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    out = to_model_tensor(gray, (224, 224), mean, std)
    assert out.shape == (1, 3, 224, 224)
    restored = [out[0, c].numpy() * std[c] + mean[c] for c in range(3)]
    np.testing.assert_allclose(restored[0], restored[1], atol=1e-5)
    np.testing.assert_allclose(restored[0], restored[2], atol=1e-5)
    assert restored[0].min() == pytest.approx(0.0, abs=0.02)
    assert restored[0].max() == pytest.approx(1.0, abs=0.02)
    if shape[:2] == (224, 224):
        np.testing.assert_allclose(restored[0], gray.reshape(224, 224), atol=1e-5)


def test_wrong_channel_count_is_refused():
    with pytest.raises(ValueError, match="HxW"):
        to_model_tensor(np.zeros((32, 32, 4), np.float32), (224, 224), MEAN, STD)


def test_bright_square_lands_in_the_right_place_after_resize():
    image = np.zeros((512, 512, 3), np.float32)
    image[128:256, 320:448] = 1.0  # rows 128..255, columns 320..447
    out = to_model_tensor(image, (224, 224), MEAN, STD)
    rgb = from_model_tensor(out, MEAN, STD)[:, :, 0]
    scale = 224 / 512  # rows 56..111, columns 140..195
    r0, r1, c0, c1 = 128 * scale, 256 * scale, 320 * scale, 448 * scale
    assert (r0, r1, c0, c1) == (56, 112, 140, 196)
    np.testing.assert_allclose(rgb[57:111, 141:195], 1.0, atol=1e-5)
    assert rgb[:55].max() < 1e-5 and rgb[113:].max() < 1e-5
    assert rgb[:, :139].max() < 1e-5 and rgb[:, 197:].max() < 1e-5
    rows, cols = np.nonzero(rgb > 0.5)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (56, 111, 140, 195)
    # the mean intensity (area) scales too
    assert rgb.mean() == pytest.approx(image[:, :, 0].mean(), abs=1e-4)


def test_bright_square_nonsquare_target_size():
    image = np.zeros((512, 512), np.float32)
    image[0:128, 384:512] = 1.0  # top-right corner
    out = to_model_tensor(image, (128, 256), MEAN, STD)  # height 128, width 256
    assert out.shape == (1, 3, 128, 256)
    rgb = from_model_tensor(out, MEAN, STD)[:, :, 1]
    rows, cols = np.nonzero(rgb > 0.5)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (0, 31, 192, 255)


class _FakeImage:
    def __init__(self, rgb):
        self.rgb = rgb
        self.calls = 0

    def as_rgb01(self):
        self.calls += 1
        return self.rgb


def _light_model(classes=CLASSES, input_size=(64, 48), mean=MEAN, std=STD) -> LoadedModel:
    card = ModelCard("resnet18", list(classes), input_size, mean, std, "layer4", None, None)
    return LoadedModel(card, torch.nn.Identity(), torch.device("cpu"), None)


def test_loaded_model_preprocess_uses_card_and_as_rgb01():
    rng = np.random.default_rng(1)
    rgb = rng.random((100, 90, 3)).astype(np.float32)
    mean, std = (0.3, 0.3, 0.3), (0.1, 0.2, 0.3)
    model = _light_model(input_size=(64, 48), mean=mean, std=std)
    image = _FakeImage(rgb)
    out = model.preprocess(image)
    assert image.calls == 1
    assert out.shape == (1, 3, 64, 48) and out.dtype == torch.float32
    assert torch.equal(out, to_model_tensor(rgb, (64, 48), mean, std))
    assert torch.equal(model.preprocess(rgb), out)  # a plain array works the same way


# --------------------------------------------------------------------------------------------
# 7. class_index
# --------------------------------------------------------------------------------------------

def test_class_index_by_name_and_index():
    model = _light_model()
    assert [model.class_index(c) for c in CLASSES] == [0, 1, 2, 3]
    assert model.class_index("2") == 2
    assert model.class_index(3) == 3
    assert model.class_index("0") == 0


@pytest.mark.parametrize("target", [4, "4", 17, -1, "-1", "tumour", "Glioma", ""])
def test_class_index_errors_list_the_classes(target):
    model = _light_model()
    with pytest.raises(ValueError) as info:
        model.class_index(target)
    message = str(info.value)
    for name in CLASSES:
        assert name in message


def test_class_names_that_look_like_numbers_win():
    model = _light_model(classes=["7", "3", "5"])
    assert model.class_index("3") == 1
    assert model.class_index("7") == 0
    assert model.class_index("1") == 1  # not a name: an index
    with pytest.raises(ValueError, match="7, 3, 5"):
        model.class_index("9")


def test_a_cards_checkpoint_outside_its_folder_is_refused_unread(tmp_path):
    """Issue 14 defect 10: `../../etc/passwd` was read and hashed."""
    import json

    from medxai_desktop.core.models import load_model
    from medxai_desktop.core.models.card import ModelCardError

    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"not for the application")
    folder = tmp_path / "cards"
    folder.mkdir()
    card = folder / "model.json"
    card.write_text(json.dumps({"arch": "resnet18", "classes": ["a", "b"], "input_size": 32,
                                "mean": [0.5] * 3, "std": [0.25] * 3, "target_layer": "layer4",
                                "checkpoint": "../secret.bin", "sha256": None}))
    with pytest.raises(ModelCardError, match="model.json: checkpoint '../secret.bin' is outside the card's folder"):
        load_model(card, device="cpu")
