"""Normalisation of identifiers, so a record and a watchlist key compare as plain strings.

Every function takes a str and returns the normalised str, or None when the input is not
a valid identifier of that kind. Character classes are spelled out in ASCII on purpose:
str.isdigit() and friends accept other scripts' digits, which no identifier here uses.
"""

from __future__ import annotations

ID_TYPES: tuple[str, ...] = ("mac", "imsi", "imei", "etag")
# Codes of the binary sensing batch (contract: 1 mac, 2 imsi, 3 imei, 4 etag).
ID_TYPE_CODES: dict[str, int] = {"mac": 1, "imsi": 2, "imei": 3, "etag": 4}
ID_TYPE_NAMES: dict[int, str] = {code: name for name, code in ID_TYPE_CODES.items()}

DOC_TYPES: tuple[str, ...] = ("national_id", "passport", "other")

DIGITS = frozenset("0123456789")
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

MAC_DIGITS = 12
IMSI_IMEI_DIGITS = 15
MAX_ETAG_CHARS = 32
MAX_PLATE_CHARS = 16
MAX_DOC_NUMBER_CHARS = 32

MAC_SEPARATORS = ":-."
_MAC_SEPARATORS = str.maketrans("", "", MAC_SEPARATORS)
_PLATE_SEPARATORS = str.maketrans("", "", " -·.")

# Confusion classes of plate OCR; the first character of each is its representative.
OCR_CLASSES: tuple[str, ...] = ("0ODQ", "1IL", "2Z", "5S", "6G", "8B")
_OCR_TABLE = str.maketrans({ch: cls[0] for cls in OCR_CLASSES for ch in cls[1:]})

NATIONAL_ID_CHARS = 18
_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_GB11643_CHECK = "10X98765432"


def normalize_device_id(id_type: str, raw: str) -> str | None:
    """Return the normalised device identifier of the given id_type, or None if invalid."""
    if not isinstance(raw, str):
        return None
    if id_type == "mac":
        digits = raw.translate(_MAC_SEPARATORS)
        if len(digits) == MAC_DIGITS and HEX_DIGITS.issuperset(digits):
            return digits.lower()
        return None
    if id_type in ("imsi", "imei"):
        ok = len(raw) == IMSI_IMEI_DIGITS and DIGITS.issuperset(raw)
        return raw if ok else None
    if id_type == "etag":
        ok = 1 <= len(raw) <= MAX_ETAG_CHARS and ALNUM.issuperset(raw)
        return raw.upper() if ok else None
    return None


def _remove_whitespace(text: str) -> str:
    return "".join(text.split())


def normalize_plate(raw: str) -> str | None:
    """Return the plate upper-cased without spaces, `-`, `·` and `.`, or None if invalid."""
    if not isinstance(raw, str):
        return None
    # All whitespace goes, not only U+0020: OCR engines emit tabs and ideographic spaces.
    plate = _remove_whitespace(raw.upper()).translate(_PLATE_SEPARATORS)
    return plate if 0 < len(plate) <= MAX_PLATE_CHARS else None


def canonical_plate(normalized: str) -> str:
    """Map every character of a normalised plate to the representative of its OCR class."""
    return normalized.translate(_OCR_TABLE)


def normalize_doc_number(doc_type: str, raw: str) -> str | None:
    """Return the document number upper-cased without whitespace, or None if invalid."""
    if doc_type not in DOC_TYPES or not isinstance(raw, str):
        return None
    number = _remove_whitespace(raw.upper())
    return number if 0 < len(number) <= MAX_DOC_NUMBER_CHARS else None


def gb11643_valid(number: str) -> bool:
    """Tell whether number is an 18-character id whose last character is its GB 11643 check."""
    if len(number) != NATIONAL_ID_CHARS or not DIGITS.issuperset(number[:17]):
        return False
    total = sum(int(ch) * weight for ch, weight in zip(number[:17], _GB11643_WEIGHTS, strict=True))
    return number[17] == _GB11643_CHECK[total % 11]


def check_digit_ok(doc_type: str, doc_number: str) -> bool:
    """Tell whether a normalised document number passes the contract's check-digit rule.

    Only an 18-character national_id carries a GB 11643 check digit; other lengths (old
    15-digit ids, foreign national ids) and other document types have none to check.
    """
    if doc_type != "national_id" or len(doc_number) != NATIONAL_ID_CHARS:
        return True
    return gb11643_valid(doc_number)
