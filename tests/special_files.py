"""Files that are not what they say (issue 23 defect 5): a FIFO, links to devices, headers that
declare huge images, a gzip bomb. Each maker writes one at a path the test chooses (the name,
and so the suffix, is the caller's) and returns it."""
from __future__ import annotations

import functools
import gzip
import os
import struct
import zlib
from pathlib import Path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def device_link(path: Path, device: str = "/dev/zero") -> Path:
    path.symlink_to(device)
    return path


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A valid PNG signature and IHDR declaring ``width`` x ``height`` 8-bit grey pixels, with a
    few bytes of image data: about 70 bytes on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def png_of_size(path: Path, width: int, height: int) -> Path:
    """A real, complete black PNG of ``width`` x ``height`` (compressed row by row: little memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), b"\0" * (width + 1)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def nifti_gz_declaring(path: Path, dims: tuple[int, int, int] = (1000, 1000, 1000),
                       data_bytes: int = 2 << 20) -> Path:
    """A gzipped NIfTI-1 file whose header declares ``dims`` int16 voxels, followed by
    ``data_bytes`` zero bytes of voxel data (a 2 MB file declaring 2 GB when the data is there)."""
    dim = (3, *dims, 1, 1, 1, 1)
    header = struct.pack("<i10s18sihcc8h3fhhhh8ff2fhcc4f2i80s24shh6f12f16s4s",
                         348, b"", b"", 0, 0, b"r", b"\0", *dim, 0.0, 0.0, 0.0, 0, 4, 16, 0,
                         1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 352.0, 1.0, 0.0, 0, b"\0", b"\0",
                         0.0, 0.0, 0.0, 0.0, 0, 0, b"", b"", 0, 1,
                         0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                         1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, b"", b"n+1\0")
    assert len(header) == 348
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(header + b"\0" * 4)
        block = b"\0" * (1 << 20)
        for start in range(0, data_bytes, len(block)):
            out.write(block[: data_bytes - start])
    return path


def dicom_declaring(path: Path, rows: int = 65535, columns: int = 65535) -> Path:
    """pydicom's CT example with a header declaring ``rows`` x ``columns`` (the pixel data stays small)."""
    import pydicom

    ds = pydicom.examples.ct.copy()
    ds.Rows, ds.Columns = rows, columns
    ds.save_as(path, enforce_file_format=True)
    return path


def gzip_bomb(path: Path, size: int = 1 << 30) -> Path:
    """``size`` zero bytes gzipped (about 1 MB per GB), whatever ``path``'s suffix says."""
    path.write_bytes(_gzipped_zeros(size))
    return path


@functools.lru_cache(maxsize=4)
def _gzipped_zeros(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9, mtime=0)


def big_sparse(path: Path, size: int) -> Path:
    """A regular file of ``size`` bytes that takes no disk space (a sparse file)."""
    with open(path, "wb") as out:
        out.truncate(size)
    return path


SPECIAL = ("fifo", "/dev/zero", "/dev/urandom", "png 1x100000000", "png 100000x100000", "dicom 65535x65535",
           "nifti 1000^3 int16", "gzip bomb", "sparse 4 GB")


def make_special(kind: str, path: Path) -> Path:
    """The special file ``kind`` (one of SPECIAL) at ``path``."""
    if kind == "fifo":
        return fifo(path)
    if kind.startswith("/dev/"):
        return device_link(path, kind)
    if kind == "png 1x100000000":
        return png_declaring(path, 1, 100_000_000)
    if kind == "png 100000x100000":
        return png_declaring(path, 100_000, 100_000)
    if kind == "dicom 65535x65535":
        return dicom_declaring(path)
    if kind == "nifti 1000^3 int16":
        return nifti_gz_declaring(path, data_bytes=1 << 16)
    if kind == "gzip bomb":
        return gzip_bomb(path, 1 << 28)
    if kind == "sparse 4 GB":
        return big_sparse(path, 4 << 30)
    raise ValueError(kind)
