"""Reviewer names as DICOM person names (PS3.5 6.2: family^given^middle^prefix^suffix) and back.

"Dr Ada Lovelace" -> "Lovelace^Ada^^Dr"; "Dr Test" -> "Test^^^Dr"; "alice" -> "alice" (one
component: the family name); a name that already holds "^" is taken as written. Read back, a
person name becomes "prefix given middle family suffix" ("Dr Ada Lovelace", "Dr Test")."""
from __future__ import annotations

PREFIXES = frozenset({"dr", "dr.", "prof", "prof.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "mx", "mx."})
SUFFIXES = frozenset({"md", "m.d.", "phd", "ph.d.", "jr", "jr.", "sr", "sr.", "frcr", "ii", "iii"})


def to_person_name(display: str) -> str:
    text = " ".join(display.replace("\\", "/").split())
    if "^" in text or not text:
        return text
    words = text.split(" ")
    prefix = [words.pop(0)] if len(words) > 1 and words[0].lower() in PREFIXES else []
    suffix = [words.pop()] if len(words) > 1 and words[-1].lower().rstrip(",") in SUFFIXES else []
    family = words.pop() if words else ""
    given = words.pop(0) if words else ""
    parts = [family, given, " ".join(words), " ".join(prefix), " ".join(suffix)]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


def from_person_name(value: str) -> str:
    parts = (str(value).split("=")[0].split("^") + [""] * 5)[:5]
    family, given, middle, prefix, suffix = (p.strip() for p in parts)
    return " ".join(p for p in (prefix, given, middle, family, suffix) if p)
