"""The one error every image reader raises: which file, and precisely why."""
from __future__ import annotations

from medxai_desktop.core.errors import InputFileError


class ImageReadError(InputFileError):
    """A file could not be read as an image; ``str(err) == f"{path}: {reason}"``."""

    def __reduce__(self):
        # Exception pickles self.args (the joined message); rebuild from both parts so the
        # error survives process pools.
        return (type(self), (self.path, self.reason))
