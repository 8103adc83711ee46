"""A plugin's failures: the error raised, and the last one remembered per plugin (shown by
``medxai plugins list`` and the plugins dialog). Shared by the loader and the guards that wrap a
plugin's calls."""
from __future__ import annotations

import threading

from medxai_desktop.core.errors import MedXAIError

from .declaration import PluginInfo

_lock = threading.RLock()
_errors: dict[str, str] = {}              # name -> load error or last use error


class PluginError(MedXAIError):
    """A plugin failed (to load, or while in use); the message starts with its name."""

    def __init__(self, info: PluginInfo, during: str, error: BaseException | str):
        self.info, self.during = info, during
        self.detail = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        super().__init__(f"plugin {info.name!r} ({info.kind or 'unknown kind'}, {info.source}) "
                         f"failed {during}: {self.detail}")


def record_use_error(info: PluginInfo, during: str, exc: BaseException) -> PluginError:
    """The error to raise for a plugin that failed in use; remembered for ``statuses()``."""
    error = PluginError(info, during, exc)
    with _lock:
        _errors[info.name] = f"{error.during}: {error.detail}"
    return error
