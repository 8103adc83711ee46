"""How the registries (explainers, architectures, exchange formats) reach plugins without
importing them: they ask the hooks here about names they do not know, and the plugin package
(:mod:`medxai_desktop.core.plugins`) installs the hooks when it is imported."""
from __future__ import annotations

from collections.abc import Callable

_load: Callable[[str], object] | None = None
_hint: Callable[[str, str], str] | None = None


def install(load: Callable[[str], object], hint: Callable[[str, str], str]) -> None:
    """``load(kind)`` registers the enabled plugins of ``kind``; ``hint(kind, name)`` says why
    ``name`` is not registered ('' when no plugin declares it)."""
    global _load, _hint
    _load, _hint = load, hint


def load_plugins(kind: str) -> None:
    if _load is not None:
        _load(kind)


def missing_hint(kind: str, name: str) -> str:
    return _hint(kind, name) if _hint is not None else ""
