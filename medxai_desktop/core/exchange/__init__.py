"""Importers and exporters of boxes, one module per format, over plain records.

Every format module has ``read_<fmt>(path, images_dir=None) -> AnnotationSet`` and
``write_<fmt>(annotations, out_path, which="reviewed"|"proposals"|"both") -> Path``
(DICOM SR: ``write_dicom_sr(annotations, source_datasets, out_dir, which, ...) -> list[Path]``).
Importers raise :class:`ExchangeError` (file, line/record, reason) and never return part of a
file; exporters raise :class:`ExportError` when the annotations cannot be written as asked.
``FORMATS`` maps format names to (reader, writer) for front ends.
"""
from medxai_desktop.core import registry_hooks
from medxai_desktop.core.exchange._common import WHICH_VALUES, ExportError, latest_reviewed, select_boxes
from medxai_desktop.core.exchange.coco import coco_eval, coco_results, read_coco, write_coco
from medxai_desktop.core.exchange.dicom_sr import read_dicom_sr, write_dicom_sr
from medxai_desktop.core.exchange.flat_csv import read_flat_csv, write_flat_csv
from medxai_desktop.core.exchange.nih_csv import read_nih_csv, write_nih_csv
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ExchangeError, ImageRecord
from medxai_desktop.core.exchange.voc import read_voc, write_voc
from medxai_desktop.core.exchange.yolo import read_yolo, write_yolo

# name -> (reader, writer); the DICOM SR writer also needs the source data sets.
FORMATS = {
    "coco": (read_coco, write_coco),
    "voc": (read_voc, write_voc),
    "yolo": (read_yolo, write_yolo),
    "nih-csv": (read_nih_csv, write_nih_csv),
    "csv": (read_flat_csv, write_flat_csv),
    "dicom-sr": (read_dicom_sr, write_dicom_sr),
}
# Which ``which`` values each writer accepts.
WHICH_SUPPORTED = {
    "coco": ("reviewed", "proposals", "both"),
    "voc": ("reviewed", "proposals"),
    "yolo": ("reviewed", "proposals"),
    "nih-csv": ("reviewed", "proposals"),
    "csv": ("reviewed", "proposals", "both"),
    "dicom-sr": ("reviewed", "proposals", "both"),
}
# Writers that de-identify the DICOM objects they write themselves (``deidentifier=``); every
# other writer is handed annotations already de-identified (core.deidentification).
DEIDENTIFYING = {"dicom-sr"}
_BUILT_IN = frozenset(FORMATS)


def register_format(name: str, reader, writer, which=WHICH_VALUES, deidentifies: bool = False) -> None:
    """Add a format (exporter plugins); ``reader`` may be None for a write-only format."""
    if name in FORMATS:
        raise ValueError(f"format {name!r} is already registered")
    FORMATS[name] = (reader, writer)
    WHICH_SUPPORTED[name] = tuple(which)
    if deidentifies:
        DEIDENTIFYING.add(name)


def unregister_format(name: str) -> None:
    """Remove a plugin's format (built-ins stay)."""
    if name not in _BUILT_IN:
        FORMATS.pop(name, None)
        WHICH_SUPPORTED.pop(name, None)
        DEIDENTIFYING.discard(name)


def get_format(name: str):
    """(reader, writer) of a built-in format or an enabled exporter plugin's."""
    if name not in FORMATS:
        registry_hooks.load_plugins("exporter")
        if name not in FORMATS:
            raise ValueError(f"unknown format {name!r}; known: {', '.join(FORMATS)}"
                             f"{registry_hooks.missing_hint('exporter', name)}")
    return FORMATS[name]



def detect_format(path) -> str:
    """The FORMATS name a file or folder most likely holds (by suffix, folder content and CSV
    header); ExchangeError when it cannot tell."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        if (path / "classes.txt").is_file():
            return "yolo"
        if next(path.rglob("*.xml"), None) is not None:
            return "voc"
        if next(path.rglob("*.dcm"), None) is not None:
            return "dicom-sr"
        raise ExchangeError(path, None, "cannot tell the format of this folder (no classes.txt, .xml or .dcm)")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "coco"
    if suffix == ".xml":
        return "voc"
    if suffix in (".dcm", ".dicom"):
        return "dicom-sr"
    if suffix == ".csv":
        try:
            with path.open(encoding="utf-8-sig", errors="replace") as f:
                header = [c.strip().lower() for c in f.readline().split(",")]
        except OSError as exc:
            raise ExchangeError(path, None, f"cannot read ({exc.strerror or exc})") from None
        if {"x0", "y0", "x1", "y1"} <= set(header):
            return "csv"
        return "nih-csv"
    raise ExchangeError(path, None, f"cannot tell the format from the suffix {suffix or '(none)'!r}")


__all__ = [
    "AnnotationSet", "BoxRecord", "ExchangeError", "ExportError", "FORMATS", "ImageRecord", "WHICH_SUPPORTED",
    "WHICH_VALUES", "DEIDENTIFYING", "coco_eval", "detect_format", "coco_results", "latest_reviewed", "read_coco",
    "read_dicom_sr", "read_flat_csv", "read_nih_csv", "read_voc", "read_yolo", "select_boxes", "write_coco",
    "write_dicom_sr", "write_flat_csv", "write_nih_csv", "write_voc", "write_yolo",
    "get_format", "register_format", "unregister_format",
]
