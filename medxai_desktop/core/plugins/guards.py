"""Registering a loaded plugin so that its failures in use name it.

Each kind is checked (the right type, the declared name) and wrapped: an exception raised
by the plugin's code while it works becomes a :class:`PluginError` naming the plugin, which
the CLI prints as one line and the desktop app shows in its log.
"""
from __future__ import annotations

import functools

from .declaration import PluginInfo
from .export_format import ExportFormat
from .errors import record_use_error


def _check_name(info: PluginInfo, name: object) -> None:
    if name != info.name:
        raise ValueError(f"registers the name {name!r}, but declares {info.name!r}")


def register_explainer_plugin(info: PluginInfo, cls) -> type:
    from medxai_desktop.core.explain.base import Explainer
    from medxai_desktop.core.explain.registry import register_explainer

    if not (isinstance(cls, type) and issubclass(cls, Explainer)):
        raise TypeError(f"an explainer plugin must give an Explainer subclass, not {cls!r}")
    _check_name(info, getattr(cls, "name", None))

    def guarded(method, during):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:   # a cancel (core.jobs.Cancelled) is no Exception: it passes
                raise record_use_error(info, during, exc) from exc
        return call

    wrapped = type(cls.__name__, (cls,), {
        "__init__": guarded(cls.__init__, "while being set up"),
        "compute": guarded(cls.compute, "while explaining"),
        "to_map": guarded(cls.to_map, "while making its map"),
        "__module__": cls.__module__,
        "__doc__": cls.__doc__,
        "plugin": info,
        # recorded in every explanation's provenance, so a new plugin version means new cache keys
        "parameters": {**cls.parameters, "plugin_version": info.version},
        "plugin_version": info.version,
    })
    register_explainer(wrapped)
    return wrapped


def register_architecture_plugin(info: PluginInfo, arch) -> object:
    from medxai_desktop.core.models.architectures import (
        Architecture,
        register_architecture,
    )

    if not isinstance(arch, Architecture):
        raise TypeError(f"an architecture plugin must give an Architecture, not {arch!r}")
    _check_name(info, arch.name)
    build = arch.build

    @functools.wraps(build)
    def guarded_build(num_classes: int):
        try:
            return build(num_classes)
        except Exception as exc:
            raise record_use_error(info, "while building the network", exc) from exc

    wrapped = Architecture(arch.name, guarded_build, arch.default_target_layer,
                           arch.description or info.description)
    register_architecture(wrapped)
    return wrapped


def register_exporter_plugin(info: PluginInfo, fmt) -> ExportFormat:
    from medxai_desktop.core.exchange import ExportError, register_format

    if not isinstance(fmt, ExportFormat):
        raise TypeError(f"an exporter plugin must give an ExportFormat, not {fmt!r}")
    _check_name(info, fmt.name)
    write, read = fmt.write, fmt.read

    @functools.wraps(write)
    def guarded_write(annotations, out, which: str = "reviewed", **options):
        if which not in fmt.which:
            raise ExportError(f"format {fmt.name!r} (plugin) writes {', '.join(fmt.which)} boxes, "
                              f"not {which!r}")
        try:
            return write(annotations, out, which=which, **options)
        except Exception as exc:
            raise record_use_error(info, "while exporting", exc) from exc

    guarded_read = None
    if read is not None:
        @functools.wraps(read)
        def guarded_read(path, images_dir=None):
            try:
                return read(path, images_dir=images_dir)
            except Exception as exc:
                raise record_use_error(info, "while importing", exc) from exc

    register_format(fmt.name, guarded_read, guarded_write, fmt.which, deidentifies=fmt.deidentifies)
    return ExportFormat(fmt.name, guarded_write, fmt.which, fmt.description or info.description,
                        guarded_read, fmt.deidentifies)
