"""De-identified copies of DICOM files, so that images and de-identified exports (SR, GSPS,
...) made with the same site secret still reference each other."""
from __future__ import annotations

from pathlib import Path

from medxai_desktop.core.exchange.dicom_sr import save_instances


def _dicom_files(inputs: list[Path]):
    for path in inputs:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


# Modalities whose pixels commonly carry burned-in text; they need BurnedInAnnotation = NO.
BURNED_IN_PRONE = frozenset({"US", "SC", "XA", "RF", "ES", "OT"})


def _refusal(ds) -> str | None:
    """Why the pixels may carry text we do not clean (no Clean Pixel Data option), if they may."""
    if "PixelData" not in ds:
        return None
    stated = str(ds.get("BurnedInAnnotation", "")).upper()
    if stated == "YES":
        return "BurnedInAnnotation is YES: text burned into the pixels is not cleaned"
    if not stated and str(ds.get("Modality", "")).upper() in BURNED_IN_PRONE:
        return (f"modality {ds.Modality} often carries burned-in text and BurnedInAnnotation is not stated; "
                "pixel data is not cleaned")
    return None


def deidentify_files(inputs: list[Path], out_dir: Path, deidentifier) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Write a de-identified copy of every readable DICOM file under ``inputs`` into ``out_dir``;
    returns (written files, [(file, reason it was not)])."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    done, refused = [], []
    for path in _dicom_files(inputs):
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            refused.append((path, f"not a readable DICOM file ({exc})"))
            continue
        reason = _refusal(ds)
        if reason:
            refused.append((path, reason))
            continue
        done.append(deidentifier.dataset(ds))
    return (save_instances(done, out_dir) if done else []), refused
