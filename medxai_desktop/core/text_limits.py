"""The text the review store keeps, the same on SQLite and PostgreSQL: defined once here.

The store's schema declares its columns with these limits (``String(LABEL_MAX)``,
``String(UID_MAX)``) and checks every value against its column before the database sees it
(``text_problem``), so both backends accept and refuse the same files; the annotation readers
check labels as they read them (``exchange._common.check_label``). A name that came from the
file system may hold bytes that are not UTF-8 (Python decodes them as lone surrogates, which
neither database driver can encode): ``printable`` writes those bytes as ``\\xff`` escapes.
"""
from __future__ import annotations

import codecs

LABEL_MAX = 200   # box labels, class and reviewer names
UID_MAX = 64      # DICOM UIDs (PS3.5 section 9.1)


ESCAPE_ERRORS = "medxai.escape"   # an error handler: text streams print such names with it


def _escape(error: UnicodeEncodeError) -> tuple[str, int]:
    text = error.object[error.start:error.end]
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else f"\\u{ord(c):04x}"
                   for c in text), error.end


codecs.register_error(ESCAPE_ERRORS, _escape)


def printable(text: str) -> str:
    """``text`` as valid Unicode: bytes that were not UTF-8 (a file name decoded with Python's
    surrogateescape) written as ``\\xff``, any other lone surrogate as ``\\udcff``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", ESCAPE_ERRORS).decode("utf-8")


def text_problem(text: str, limit: int | None) -> str | None:
    """Why ``text`` cannot be stored in a column of at most ``limit`` characters (None: no
    limit), or None when it can."""
    if "\x00" in text:
        return "holds a NUL byte"
    length = len(printable(text))
    if limit is not None and length > limit:
        return f"is {length} characters long; at most {limit} are kept"
    return None
