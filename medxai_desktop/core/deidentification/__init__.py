"""De-identification to DICOM PS3.15 Annex E (Basic Profile with the Clean Graphics and Clean
Structured Content options), with HMAC pseudonyms under a site secret.

:class:`Deidentifier` is what exporters use: ``dataset(ds)`` for a DICOM instance (an SR or GSPS
we built, or a source image), ``annotations(a)`` for the records a non-DICOM format writes,
``label_cleaner(headers)`` for the labels a DICOM writer codes (:func:`.labels.clean_label`).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset

from .annotations import deidentify_annotations
from .dataset import deidentify_dataset
from .labels import clean_label, export_cleaner
from .profile import OPTIONS, STANDARD_RELEASE, action, profile_code
from .pseudonyms import Pseudonymizer
from .secret import SecretError, fingerprint, import_secret, init_secret, load_secret, secret_path


@functools.lru_cache(maxsize=1)
def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("medxai-desktop")
    except metadata.PackageNotFoundError:
        return "(version unknown)"


@dataclass(frozen=True)
class Deidentifier:
    pseudonymizer: Pseudonymizer

    @classmethod
    def from_site_secret(cls) -> Deidentifier:
        """The site's de-identifier; SecretError (saying how to set one) when there is no secret."""
        return cls(Pseudonymizer(load_secret()))

    def dataset(self, ds: Dataset) -> Dataset:
        return deidentify_dataset(ds, self.pseudonymizer, _version())

    def annotations(self, annotations):
        return deidentify_annotations(annotations, self.pseudonymizer)

    @staticmethod
    def label_cleaner(headers: Iterable[Dataset]) -> Callable[[str], str]:
        """``label -> cleaned label`` for an export whose source images have these headers."""
        return functools.partial(clean_label, cleaner=export_cleaner(headers))


__all__ = ["Deidentifier", "OPTIONS", "Pseudonymizer", "STANDARD_RELEASE", "SecretError", "action", "clean_label",
           "deidentify_annotations", "deidentify_dataset", "fingerprint", "import_secret", "init_secret",
           "load_secret", "profile_code", "secret_path"]
