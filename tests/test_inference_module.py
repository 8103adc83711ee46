"""The inference copy ROAD runs its batches through (core.models.inference_module)."""
from __future__ import annotations

import torch

from medxai_desktop.core.models import random_model
from medxai_desktop.core.models.inference_module import (
    as_inference_input,
    inference_module,
)

CPU = torch.device("cpu")


def _batch(size=64, n=3, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_copy_computes_what_the_model_computes_and_leaves_it_untouched():
    model = random_model("resnet18", ["a", "b", "c"], seed=3, input_size=(64, 64), device="cpu").module
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = _batch()
    with torch.no_grad():
        expected = model(batch)
        copy = inference_module(model, CPU)
        got = copy(as_inference_input(batch, copy))
    assert copy is not model
    # Batch norms are folded away: the copy has none left, the model keeps all of them.
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in copy.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 20
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.conv1.weight.is_contiguous()          # the model's own layout is unchanged


def test_copy_is_cached_and_rebuilt_when_the_weights_change():
    model = random_model("resnet18", ["a", "b"], seed=4, input_size=(64, 64), device="cpu").module
    first = inference_module(model, CPU)
    assert inference_module(model, CPU) is first
    with torch.no_grad():
        model.fc.weight.mul_(2)                         # in place: the version counter moves
    second = inference_module(model, CPU)
    assert second is not first
    batch = _batch(seed=1)
    with torch.no_grad():
        assert torch.allclose(second(as_inference_input(batch, second)), model(batch), atol=1e-4, rtol=1e-4)


def test_training_mode_and_untraceable_models():
    model = random_model("resnet18", ["a", "b"], seed=5, input_size=(64, 64), device="cpu").module
    model.train()
    assert inference_module(model, CPU) is model
    model.eval()

    class DataDependent(torch.nn.Module):          # torch.fx cannot trace a branch on values
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.bn = torch.nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.bn(self.conv(x))
            return y.mean((2, 3)) if y.sum() > 0 else -y.mean((2, 3))

    odd = DataDependent().eval()
    copy = inference_module(odd, CPU)
    batch = _batch(size=16, seed=2)
    with torch.no_grad():
        assert torch.allclose(copy(as_inference_input(batch, copy)), odd(batch), atol=1e-5)
