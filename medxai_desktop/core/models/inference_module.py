"""A faster copy of a frozen model for no-grad CPU inference on batches (ROAD's forward passes).

Two standard CPU inference optimisations, neither of which changes what the model computes
beyond float32 rounding:

- each Conv2d followed by a BatchNorm2d is folded into one Conv2d (torch.fx's ``fuse``), so a
  ResNet's batch norms cost nothing;
- weights and inputs are laid out channels-last, which oneDNN's convolutions run faster.

The copy is made once per model and cached (weakly: it goes when the model goes); it is
rebuilt when any parameter or buffer of the model has been changed in place since (their
version counters move). Models that torch.fx cannot trace, models in training mode and models
on a non-CPU device are used as they are. The model passed in is never modified.
"""
from __future__ import annotations

import copy
import logging
import threading
import weakref

import torch

log = logging.getLogger(__name__)

_cache: weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, torch.nn.Module]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _signature(module: torch.nn.Module) -> tuple:
    tensors = list(module.parameters()) + list(module.buffers())
    return tuple((t.data_ptr(), t._version, tuple(t.shape)) for t in tensors)


def _optimised_copy(module: torch.nn.Module) -> torch.nn.Module:
    try:
        from torch.fx.experimental.optimization import fuse

        fused = fuse(module, inplace=False)
    except Exception as exc:  # noqa: BLE001 - any tracing failure: fall back to a plain copy
        log.info("torch.fx cannot trace %s (%s); inference without conv-bn folding",
                 type(module).__name__, exc)
        fused = copy.deepcopy(module)
    return fused.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def inference_module(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The module to run no-grad batches through: an optimised copy on CPU (see the module
    docstring), ``module`` itself elsewhere or when it is in training mode."""
    if device.type != "cpu" or module.training:
        return module
    signature = _signature(module)
    with _lock:
        cached = _cache.get(module)
        if cached is not None and cached[0] == signature:
            return cached[1]
        optimised = _optimised_copy(module)
        _cache[module] = (signature, optimised)
        return optimised


def as_inference_input(batch: torch.Tensor, module: torch.nn.Module) -> torch.Tensor:
    """``batch`` in the memory layout ``module``'s weights use (channels-last for a copy made
    by :func:`inference_module`)."""
    if batch.ndim == 4 and batch.device.type == "cpu":
        return batch.contiguous(memory_format=torch.channels_last)
    return batch
