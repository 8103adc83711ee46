"""Errors that front ends show to people: each names what failed and why."""
from __future__ import annotations

from pathlib import Path


class MedXAIError(Exception):
    """Base class for errors with a user-facing message."""


class InputFileError(MedXAIError):
    """A file given by the user cannot be used; names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class OutputError(MedXAIError):
    """An output (export, explanation folder) cannot be written: names it and the reason
    (a full disk, a file-size limit, a link where the output goes); nothing partial is left."""
