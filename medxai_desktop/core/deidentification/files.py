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
    """Write a de-identified copy of every readable DICOM file under ``inputs`` into ``out_dir``
    (``<new SOP Instance UID>.dcm``); returns (written files, [(file, reason it was not)]).

    Nothing is overwritten: a file whose copy would land where an earlier input's copy goes
    (the same SOP Instance UID) or where a file already is, is refused, naming the other file."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    done, refused = [], []
    claimed: dict[Path, Path] = {}   # output file -> the input it holds
    for path in dict.fromkeys(_dicom_files(inputs)):
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            refused.append((path, f"not a readable DICOM file ({exc})"))
            continue
        reason = _refusal(ds)
        if reason is None:
            copy_ = deidentifier.dataset(ds)
            target = Path(out_dir) / f"{copy_.get('SOPInstanceUID', '')}.dcm"
            reason = _collision(target, claimed.get(target))
        if reason:
            refused.append((path, reason))
            continue
        claimed[target] = path
        done.append(copy_)
    return (save_instances(done, out_dir) if done else []), refused


def _collision(target: Path, earlier: Path | None) -> str | None:
    """Why a copy may not be written to ``target`` (never overwrite), if it may not."""
    if target.name == ".dcm":
        return "no SOP Instance UID: the copy would have no name"
    if earlier is not None:
        return (f"the same SOP Instance UID as {earlier}: both copies would be {target.name}; "
                "this one is not written")
    if target.exists():
        return f"{target} already exists and is not overwritten"
    return None
