"""Pseudonyms from a keyed hash: HMAC-SHA256 under the site secret, one domain per kind of
value, so a patient ID, a UID and a reviewer's name never share a pseudonym and nobody without
the secret can recompute one from a guessed identifier."""
from __future__ import annotations

import hashlib
import hmac
from pathlib import PurePosixPath

from pydicom.uid import UID_dictionary


class Pseudonymizer:
    def __init__(self, secret: bytes):
        if len(secret) < 16:
            raise ValueError("the site secret must be at least 16 bytes")
        self._secret = bytes(secret)

    def __repr__(self) -> str:   # never the secret
        return "Pseudonymizer(<site secret>)"

    def digest(self, domain: str, value: str) -> bytes:
        return hmac.new(self._secret, f"{domain}\x00{value}".encode("utf-8", "surrogateescape"),
                        hashlib.sha256).digest()

    def patient_id(self, value: str) -> str:
        return "ANON-" + self.digest("patient-id", value).hex()[:16].upper()

    def person(self, value: str) -> str:
        """A person name (PN): reviewer, observer, operator."""
        return "ANON-" + self.digest("person", value).hex()[:12].upper() + "^"

    def uid(self, value: str | None) -> str | None:
        """``2.25.`` + 128 bits of the HMAC (PS3.5 B.2); well-known UIDs (SOP classes, transfer
        syntaxes, coding schemes) and empty values (None, "") are kept."""
        if not value or str(value) in UID_dictionary:
            return value
        return "2.25." + str(int.from_bytes(self.digest("uid", str(value))[:16], "big"))

    def image_key(self, key: str) -> str:
        """An image key (a file name or relative path, often holding a name or an MRN): a flat
        pseudonym that keeps the suffix, so formats still see a .png or .dcm."""
        suffix = "".join(PurePosixPath(key.replace("\\", "/")).suffixes[-2:])
        if len(suffix) > 12 or not suffix.replace(".", "").isalnum():
            suffix = ""
        return "img-" + self.digest("image-key", key).hex()[:20] + suffix.lower()
