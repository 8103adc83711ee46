"""Choice of the torch device: CUDA if present, else Apple MPS, else CPU; overridable."""
from __future__ import annotations

import torch


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.insert(0, "cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.insert(0 if "cuda" not in devices else 1, "mps")
    return devices


def select_device(preference: str | None = "auto") -> torch.device:
    """Resolve 'auto' (or None) to the best device; check an explicit choice exists."""
    pref = (preference or "auto").lower()
    if pref == "auto":
        return torch.device(available_devices()[0])
    kind = pref.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {preference!r}; use auto, cpu, cuda[:N] or mps")
    if kind not in available_devices():
        raise ValueError(f"device {preference!r} is not available on this machine "
                         f"(available: {', '.join(available_devices())})")
    if ":" in pref:
        index_text = pref.partition(":")[2]
        if not index_text.isdigit():
            raise ValueError(f"unknown device {preference!r}; use auto, cpu, cuda[:N] or mps")
        if kind == "cuda" and int(index_text) >= torch.cuda.device_count():
            raise ValueError(f"device {preference!r} is not available on this machine "
                             f"({torch.cuda.device_count()} CUDA device(s))")
    return torch.device(pref)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type
