"""Medical image I/O: DICOM, raster and volume files -> MedicalImage; study discovery."""
from medxai_desktop.core.imaging.discovery import DiscoveryResult, ImageRef, Series, Study, discover
from medxai_desktop.core.imaging.errors import ImageReadError
from medxai_desktop.core.imaging.medical_image import MedicalImage
from medxai_desktop.core.imaging.reader import read_image
from medxai_desktop.core.imaging.windowing import VoiLut, apply_window

__all__ = [
    "DiscoveryResult", "ImageReadError", "ImageRef", "MedicalImage", "Series", "Study", "VoiLut",
    "apply_window", "discover", "read_image",
]
