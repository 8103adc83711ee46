"""Headless core of MedXAI Desktop: plain Python + torch, never Qt."""
# The plugin package installs the registries' hooks for names they do not know (enabled
# plugins); importing it imports no plugin and no torch.
from medxai_desktop.core import plugins as _plugins  # noqa: F401
