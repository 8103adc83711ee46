"""Loading enabled plugins into the built-in registries, and what went wrong.

Only plugins the user enabled are imported. An enabled explainer registers with
``core.explain.registry.register_explainer``, an architecture with
``core.models.architectures.register_architecture``, an exporter with
``core.exchange.register_format``: front ends then use them exactly like built-ins. The
registries call :func:`load_enabled` for their kind the first time they are asked, so a
plugin is imported only when something of its kind is needed.

A plugin is first imported in a child process (:mod:`.check`): one that raises, loops or dies
while importing is recorded with its error and skipped, and never imported here; one that raises
while in use raises :class:`PluginError`, which names it (front ends show the message and go on).
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import re
import sys
from dataclasses import dataclass

from medxai_desktop.core.errors import MedXAIError

from . import check
from .declaration import KINDS, PluginInfo
from .errors import PluginError, _errors, _lock, record_use_error  # noqa: F401 (re-exported)
from .discovery import discover_plugins
from .state import enabled_names, record_check, recorded_check, set_enabled


@dataclass
class PluginStatus:
    info: PluginInfo
    enabled: bool
    loaded: bool = False
    error: str = ""            # load error, or the last error while in use

    @property
    def state(self) -> str:
        """loaded (an error then is the last failed call), error (cannot be loaded), enabled, disabled."""
        if self.loaded:
            return "loaded"
        if self.error:
            return "error"
        return "enabled" if self.enabled else "disabled"

    def as_row(self) -> dict:
        return {"kind": self.info.kind or "?", "name": self.info.name, "version": self.info.version or "?",
                "source": self.info.source, "enabled": self.enabled, "state": self.state,
                "error": self.error, "description": self.info.description}


_found: list[PluginInfo] | None = None
_loaded: dict[str, object] = {}           # name -> what was registered
_kinds_done: set[str] = set()
in_child = False                          # this process is the child that checks one plugin


def plugins(refresh: bool = False) -> list[PluginInfo]:
    """The plugins found (discovered once per process unless ``refresh``, which also lets the
    next :func:`load_enabled` retry plugins that failed to load)."""
    global _found
    with _lock:
        if _found is None or refresh:
            _found = discover_plugins()
        if refresh:
            _kinds_done.clear()
            for name in [n for n in _errors if n not in _loaded]:
                del _errors[name]
        return list(_found)


def _usable(name: str) -> PluginInfo | None:
    return next((p for p in plugins() if p.name == name and not p.error), None)


def statuses() -> list[PluginStatus]:
    """Every plugin found, with whether it is enabled, loaded, and its error, if any."""
    try:
        enabled = enabled_names()
        state_error = ""
    except MedXAIError as exc:
        enabled, state_error = set(), str(exc)
    rows = []
    with _lock:
        for info in plugins():
            usable = _usable(info.name) is info
            error = info.error or (_errors.get(info.name, "") if usable else "") or (
                state_error if info.name in enabled else "") or (
                _recorded_error(info) if usable and info.name in enabled and info.name not in _loaded else "")
            rows.append(PluginStatus(info, info.name in enabled and usable,
                                     usable and info.name in _loaded, error))
    return rows


def load_enabled(kind: str | None = None) -> list[PluginStatus]:
    """Import and register every enabled plugin of ``kind`` (all kinds when None) not yet
    loaded. Never raises for a plugin's fault: errors are recorded in :func:`statuses`."""
    kinds = KINDS if kind is None else (kind,)
    with _lock:
        if all(k in _kinds_done for k in kinds):
            return statuses()
        try:
            enabled = enabled_names()
        except MedXAIError:
            enabled = set()  # reported by statuses(); the application runs without plugins
        for info in plugins():
            if info.kind in kinds and info.name in enabled and _usable(info.name) is info \
                    and info.name not in _loaded and info.name not in _errors:
                try:
                    load_plugin(info.name)
                except PluginError:
                    pass
        _kinds_done.update(kinds)
    return statuses()


def _recorded_error(info: PluginInfo) -> str:
    if in_child:
        return ""
    recorded = recorded_check(info.name, check.fingerprint(info))
    return f"while loading: {recorded}" if recorded else ""


def _child_verdict(info: PluginInfo, recheck: bool) -> str:
    """'' when the plugin may be imported here: the application's own, or imported without fault
    by a child process (now, or earlier with the same files); else the reason."""
    if in_child or not check.needs_child(info):
        return ""
    fingerprint = check.fingerprint(info)
    recorded = None if recheck else recorded_check(info.name, fingerprint)
    if recorded is not None:
        return recorded
    verdict = check.check_in_child(info)
    _remember(info, verdict)
    return verdict


def _remember(info: PluginInfo, error: str) -> None:
    """Record how loading ``info`` went, for later commands (``plugins list`` imports nothing)."""
    if in_child:
        return
    # the application's own plugins are never checked in a child: only their failures are kept
    kept = error if error or check.needs_child(info) else None
    try:
        record_check(info.name, check.fingerprint(info), kept)
    except MedXAIError:
        pass  # an unwritable settings file: checked again next time


def load_plugin(name: str, recheck: bool = False) -> object:
    """Import one plugin and register it (whether or not it is enabled); PluginError on failure.
    ``recheck``: import it in a child process first even if it passed before with these files."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
        info = _usable(name)
        if info is None:
            raise _unknown(name)
        verdict = _child_verdict(info, recheck)
        if verdict:
            error = PluginError(info, "while loading", verdict)
            _errors[name] = f"{error.during}: {error.detail}"
            raise error
        try:
            registered = _register(info, _import_object(info))
        except (Exception, SystemExit) as exc:
            error = PluginError(info, "while loading", exc)
            _errors[name] = f"{error.during}: {error.detail}"
            _remember(info, error.detail)
            raise error from exc
        _remember(info, "")
        _errors.pop(name, None)
        _loaded[name] = registered
        return registered


def unload_plugin(name: str) -> None:
    """Remove a loaded plugin from its registry (its module stays imported)."""
    with _lock:
        registered = _loaded.pop(name, None)
        _errors.pop(name, None)
        info = next((p for p in plugins() if p.name == name), None)
        if registered is None or info is None:
            return
        if info.kind == "explainer":
            from medxai_desktop.core.explain.registry import unregister_explainer
            unregister_explainer(name)
        elif info.kind == "architecture":
            from medxai_desktop.core.models.architectures import unregister_architecture
            unregister_architecture(name)
        elif info.kind == "exporter":
            from medxai_desktop.core.exchange import unregister_format
            unregister_format(name)


def enable(name: str) -> PluginStatus:
    """Persist ``name`` as enabled and load it now; the status says whether that worked."""
    if _usable(name) is None:
        raise _unusable(name)
    set_enabled(name, True)
    _errors.pop(name, None)
    try:
        load_plugin(name, recheck=True)
    except PluginError:
        pass
    return next(s for s in statuses() if s.info.name == name and s.enabled)


def disable(name: str) -> None:
    if not any(p.name == name for p in plugins()) and name not in enabled_names():
        raise _unknown(name)
    set_enabled(name, False)
    unload_plugin(name)


def child_main(name: str) -> int:
    """``medxai plugins _validate NAME``: import and register one plugin here, print the verdict."""
    global in_child
    in_child = True
    try:
        load_plugin(name)
    except PluginError as exc:
        detail = " ".join(exc.detail.split())
        print(f"\n{check.RESULT_MARK} error {detail}", flush=True)
        return 3
    print(f"\n{check.RESULT_MARK} ok", flush=True)
    return 0


def missing_hint(kind: str, name: str) -> str:
    """Why ``name`` is not in the ``kind`` registry when a plugin declares it ('' if none does)."""
    for status in statuses():
        info = status.info
        if info.name != name or info.kind not in ("", kind):
            continue
        if status.error:
            return f"; plugin {name!r} ({info.source}) cannot be used: {status.error}"
        if not status.enabled:
            return f"; plugin {name!r} ({info.source}) is not enabled: `medxai plugins enable {name}`"
    return ""


def reset() -> None:
    """Forget discovery and unregister every loaded plugin (tests; after changing folders)."""
    global _found
    with _lock:
        for name in list(_loaded):
            unload_plugin(name)
        _errors.clear()
        _kinds_done.clear()
        _found = None
        for module in [m for m in sys.modules if m.startswith(_MODULE_PREFIX)]:
            del sys.modules[module]


def _unusable(name: str) -> MedXAIError:
    broken = next((p for p in plugins() if p.name == name and p.error), None)
    if broken is None:
        return _unknown(name)
    return MedXAIError(f"plugin {name!r} ({broken.source}) cannot be enabled: {broken.error}")


def _unknown(name: str) -> MedXAIError:
    known = sorted({p.name for p in plugins()})
    return MedXAIError(f"no plugin named {name!r}; found: {', '.join(known) or 'none'}")


_MODULE_PREFIX = "medxai_plugin_"


def _import_object(info: PluginInfo):
    if info.entry_point is not None:
        with _quiet():
            obj = info.entry_point.load()
    else:
        module_name = _MODULE_PREFIX + re.sub(r"\W", "_", info.name)
        module = sys.modules.get(module_name)
        if module is None:
            package = info.path.name == "__init__.py"
            spec = importlib.util.spec_from_file_location(
                module_name, info.path,
                submodule_search_locations=[str(info.path.parent)] if package else None)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {info.path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                with _quiet():
                    spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
        if not hasattr(module, info.obj):
            raise AttributeError(f"{info.path} has no attribute {info.obj!r} (named by 'object')")
        obj = getattr(module, info.obj)
    return obj() if inspect.isfunction(obj) else obj


class _Discard(io.TextIOBase):
    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def _quiet():
    """What a plugin prints while it is imported is dropped (a plugin printing megabytes must not
    flood a command's output); the child process that checks it keeps the last lines."""
    if in_child:
        yield
        return
    with contextlib.redirect_stdout(_Discard()), contextlib.redirect_stderr(_Discard()):
        yield


def _register(info: PluginInfo, obj) -> object:
    if info.kind == "explainer":
        from .guards import register_explainer_plugin
        return register_explainer_plugin(info, obj)
    if info.kind == "architecture":
        from .guards import register_architecture_plugin
        return register_architecture_plugin(info, obj)
    from .guards import register_exporter_plugin
    return register_exporter_plugin(info, obj)
