"""Safe checkpoint loading: plain tensors only, shapes checked layer by layer."""
from __future__ import annotations

import pickle
import pickletools
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from medxai_desktop.core.errors import InputFileError
from medxai_desktop.core.user_files import UserFileError, check_user_file


class CheckpointError(InputFileError):
    """A checkpoint that is unsafe, unreadable or does not fit the architecture."""


def read_state_dict(path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """Load a state_dict with ``weights_only=True``: a pickle that would run code is refused.

    Accepts a bare state_dict or one wrapped as {"state_dict": ...} / {"model": ...}, strips
    a DataParallel "module." prefix, and returns float32 tensors (fp16 storage is allowed).
    """
    path = Path(path)
    try:
        check_user_file(path, "model")   # a regular file (never a FIFO or a device), within the limit
    except UserFileError as exc:
        raise CheckpointError(path, "checkpoint file not found" if exc.reason.startswith("file not found")
                              else f"cannot use it as a checkpoint: {exc.reason}") from None
    try:
        with warnings.catch_warnings():
            # torch warns on stderr about pickle protocols > 2 before refusing them; the
            # CheckpointError below is the one message a front end should show.
            warnings.filterwarnings("ignore", message="Detected pickle protocol",
                                    category=UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = _unsafe_object_reason(str(exc))
        imported = _pickle_imports(path) if unsafe is None else []
        risky = [n for n in imported if n not in _torch_safe_globals()]
        if unsafe is None and risky:
            unsafe = "it imports " + ", ".join(risky[:3]) + (", ..." if len(risky) > 3 else "")
        if unsafe is not None:
            raise CheckpointError(path, "refused: the checkpoint holds Python objects other than "
                                  f"tensors, which could run code when loaded ({unsafe})") from None
        hint = ("; it uses a pickle protocol the safe loader does not support, re-save it with "
                "torch.save's default protocol") if imported else ""
        raise CheckpointError(path, f"not a readable torch checkpoint ({_last_line(exc)}){hint}") from None
    except Exception as exc:  # weights_only=True ran no code; any failure means unreadable
        # (garbage bytes reach the restricted unpickler as KeyError, IndexError, ...).
        detail = _last_line(exc)
        if detail != type(exc).__name__:
            detail = f"{type(exc).__name__}: {detail}"
        raise CheckpointError(path, f"not a readable torch checkpoint ({detail})") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(path, "not a state_dict (expected a mapping of layer names to tensors)")
    state = OrderedDict()
    for key, tensor in obj.items():
        key = key[len("module."):] if key.startswith("module.") else key
        state[key] = tensor.float() if tensor.is_floating_point() else tensor
    return state


_UNSAFE_PATTERNS = (
    r"GLOBAL \S+ was not an allowed global[^\n]*?default",
    r"GLOBAL \S+ whose module \S+ is blocked",
    r"Can only (?:create|build|append|extend)[^\n]*",
    r"call reduce for unrecognized function[^\n]*",
    r"not initialized by BUILD[^\n]*",
)


def _unsafe_object_reason(message: str) -> str | None:
    """The weights-only unpickler's reason when it stopped at a non-tensor object, else None."""
    for pattern in _UNSAFE_PATTERNS:
        match = re.search(pattern, message)
        if match:
            return match.group(0).strip()
    return None


def _last_line(exc: BaseException) -> str:
    """The informative line of an exception (torch wraps it in generic advice)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Check the documentation", "Weights only load"))]
    return lines[-1] if lines else type(exc).__name__


def _torch_safe_globals() -> set[str]:
    """Names torch's weights-only unpickler accepts (tensor rebuilders, OrderedDict, ...)."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals
        return set(_get_allowed_globals())
    except Exception:  # private API; without it every import counts as risky
        return set()


_NAME = re.compile(r"^[A-Za-z_][\w.]*$")


def _pickle_imports(path: Path) -> list[str]:
    """What the checkpoint's pickle stream(s) would import, read without unpickling.

    The weights-only unpickler rejects pickle protocols >= 4 as "Unsupported operand"
    before it sees what the stream holds; this static scan (pickletools runs no code) tells
    a pickle that would import functions or classes apart from a file that is no pickle.
    Only streams that parse up to their STOP opcode count.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.endswith("data.pkl")]
                streams = [archive.read(n) for n in members[:1]]
        else:
            streams = [path.read_bytes()]
    except (OSError, zipfile.BadZipFile, RuntimeError):
        return []
    imported: list[str] = []
    for data in streams:
        offset = 0
        while offset < len(data):  # a legacy torch file holds several pickles in a row
            found, strings, complete = [], [], False
            try:
                for opcode, arg, pos in pickletools.genops(data[offset:]):
                    if isinstance(arg, str):
                        strings.append(arg)
                    if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                        found.append(arg.replace(" ", ".", 1))
                    elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                        found.append(f"{strings[-2]}.{strings[-1]}")
                    if opcode.name == "STOP":
                        complete, offset = True, offset + pos + 1
                        break
            except Exception:  # not (or no longer) a pickle stream
                break
            if not complete:
                break
            imported += [n for n in found if _NAME.match(n) and n not in imported]
    return imported


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Copy ``state`` into ``model``; any missing, unexpected or mis-shaped layer is named."""
    expected = model.state_dict()
    problems = []
    for key, tensor in state.items():
        if key not in expected:
            problems.append(f"unexpected layer '{key}' {tuple(tensor.shape)}")
        elif expected[key].shape != tensor.shape:
            problems.append(f"layer '{key}': checkpoint has shape {tuple(tensor.shape)}, "
                            f"model expects {tuple(expected[key].shape)}")
    problems += [f"missing layer '{k}'" for k in expected if k not in state]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(path, f"checkpoint does not fit the architecture: {shown}")
    model.load_state_dict(state, strict=True)
