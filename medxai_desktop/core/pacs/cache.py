"""The local cache of retrieved instances: ``<root>/<Study UID>/<SOP Instance UID>.dcm``.

Each instance is written to a temporary file beside its place and renamed into it once
complete (:mod:`medxai_desktop.core.atomic_files`), so the cache holds only whole instances;
temporary files left by a killed process are removed when the study is next retrieved.
An instance whose file exists is never fetched again.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from platformdirs import user_cache_dir

from medxai_desktop.core.atomic_files import atomic_write_bytes

from .query import check_uid

APP_NAME = "MedXAI Desktop"
CACHE_ENV = "MEDXAI_PACS_CACHE"


def default_cache_root() -> Path:
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env) if env else Path(user_cache_dir(APP_NAME, appauthor=False)) / "pacs"


class InstanceCache:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else default_cache_root()

    def study_dir(self, study_uid: str) -> Path:
        return self.root / check_uid(study_uid, "study UID")

    def path(self, study_uid: str, sop_uid: str) -> Path:
        return self.study_dir(study_uid) / f"{check_uid(sop_uid, 'SOP Instance UID')}.dcm"

    def cached(self, study_uid: str) -> set[str]:
        """The SOP Instance UIDs of the study's complete instances."""
        folder = self.study_dir(study_uid)
        if not folder.is_dir():
            return set()
        return {p.name[:-4] for p in os.scandir(folder) if p.name.endswith(".dcm") and not p.name.startswith(".")}

    def clean_partials(self, study_uid: str) -> int:
        """Remove temporary files left by an interrupted write; how many."""
        folder = self.study_dir(study_uid)
        removed = 0
        if folder.is_dir():
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        return removed

    def write(self, study_uid: str, sop_uid: str, data: bytes) -> Path:
        """The instance's bytes (a DICOM file, preamble and meta included), written atomically."""
        return atomic_write_bytes(self.path(study_uid, sop_uid), data)

    def new_partial(self, study_uid: str) -> Path:
        """An empty temporary file in the study's folder (removed by ``clean_partials`` if left)."""
        folder = self.study_dir(study_uid)
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".part.", suffix=".tmp", dir=folder)
        os.close(fd)
        return Path(name)

    def adopt(self, study_uid: str, sop_uid: str, partial: Path) -> Path:
        """A complete temporary file of ``new_partial`` renamed into the instance's place."""
        target = self.path(study_uid, sop_uid)
        with open(partial, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(partial, target)
        return target

    def write_dataset(self, study_uid: str, ds) -> Path:
        """A data set as a DICOM file; one read without file meta (some WADO-RS servers send
        no preamble and no meta) gets them, in the encoding it was read in."""
        from io import BytesIO

        from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

        ds.ensure_file_meta()
        if "TransferSyntaxUID" not in ds.file_meta:
            implicit, little = ds.original_encoding
            ds.file_meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                                              ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
            ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return self.write(study_uid, str(ds.SOPInstanceUID), buffer.getvalue())
