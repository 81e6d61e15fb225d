"""Normalisers against plain-Python references written the obvious, different way."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.normalize import (
    DOC_TYPES,
    ID_TYPE_CODES,
    ID_TYPE_NAMES,
    ID_TYPES,
    OCR_CLASSES,
    canonical_plate,
    check_digit_ok,
    gb11643_valid,
    normalize_device_id,
    normalize_doc_number,
    normalize_plate,
)

SETTINGS = settings(max_examples=200, deadline=None, database=None)

HEX = "0123456789abcdefABCDEF"
# Look-alikes that must never pass for ASCII: Arabic-Indic and full-width digits, full-width
# letters, a German sharp s (upper-cases to two letters), a dotless i (upper-cases to ASCII I).
NON_ASCII = "٠٣７０ＡｆßıİÖ鲁京"
JUNK = "gGzZ_ /,;\t\n"
SEPARATORS = ":-."


def ref_mac(raw: str) -> str | None:
    digits = ""
    for ch in raw:
        if ch in SEPARATORS:
            continue
        if ch not in HEX:
            return None
        digits += ch
    return digits.lower() if len(digits) == 12 else None


def ref_imsi_imei(raw: str) -> str | None:
    if len(raw) != 15:
        return None
    for ch in raw:
        if not "0" <= ch <= "9":
            return None
    return raw


def ref_etag(raw: str) -> str | None:
    if not 1 <= len(raw) <= 32:
        return None
    out = ""
    for ch in raw:
        if "a" <= ch <= "z":
            out += chr(ord(ch) - 32)
        elif "A" <= ch <= "Z" or "0" <= ch <= "9":
            out += ch
        else:
            return None
    return out


def ref_plate(raw: str) -> str | None:
    out = "".join(ch for ch in raw.upper() if not ch.isspace() and ch not in "-·.")
    return out if 1 <= len(out) <= 16 else None


OCR_REFERENCE = {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "Z": "2", "S": "5"}
OCR_REFERENCE |= {"G": "6", "B": "8"}


def ref_canonical(plate: str) -> str:
    return "".join(OCR_REFERENCE.get(ch, ch) for ch in plate)


def ref_doc_number(doc_type: str, raw: str) -> str | None:
    if doc_type not in ("national_id", "passport", "other"):
        return None
    out = "".join(ch for ch in raw.upper() if not ch.isspace())
    return out if 0 < len(out) <= 32 else None


@st.composite
def separated_macs(draw: st.DrawFn) -> str:
    digits = draw(st.lists(st.sampled_from(HEX), min_size=10, max_size=14))
    out = ""
    for digit in digits:
        out += draw(st.sampled_from(["", "", ":", "-", "."])) + digit
    return out


mac_inputs = st.one_of(
    separated_macs(),
    st.text(alphabet=HEX + SEPARATORS + JUNK + NON_ASCII, max_size=20),
    st.text(max_size=20),
)
digit_inputs = st.one_of(
    st.text(alphabet="0123456789", min_size=14, max_size=16),
    st.text(alphabet="0123456789" + NON_ASCII + JUNK, min_size=14, max_size=16),
    st.text(max_size=16),
)
etag_inputs = st.one_of(
    st.text(alphabet="0123456789ABCDEFXYZabcxyz", min_size=0, max_size=34),
    st.text(alphabet="0123AZaz" + NON_ASCII + JUNK, max_size=34),
    st.text(max_size=34),
)
plate_inputs = st.one_of(
    st.text(alphabet="鲁京粤ABKLMOQSZ0125689abc -·.\t\u3000ß", max_size=24),
    st.text(max_size=24),
)


@SETTINGS
@given(mac_inputs)
def test_mac_matches_reference(raw: str) -> None:
    assert normalize_device_id("mac", raw) == ref_mac(raw)


@SETTINGS
@given(st.sampled_from(["imsi", "imei"]), digit_inputs)
def test_imsi_imei_match_reference(id_type: str, raw: str) -> None:
    assert normalize_device_id(id_type, raw) == ref_imsi_imei(raw)


@SETTINGS
@given(etag_inputs)
def test_etag_matches_reference(raw: str) -> None:
    assert normalize_device_id("etag", raw) == ref_etag(raw)


@SETTINGS
@given(plate_inputs)
def test_plate_matches_reference(raw: str) -> None:
    assert normalize_plate(raw) == ref_plate(raw)


@SETTINGS
@given(st.text(alphabet="鲁京ABDGILOQSZ0125689X ", max_size=16))
def test_canonical_plate_matches_reference(plate: str) -> None:
    assert canonical_plate(plate) == ref_canonical(plate)
    assert canonical_plate(canonical_plate(plate)) == canonical_plate(plate)


@SETTINGS
@given(st.sampled_from([*DOC_TYPES, "visa", ""]), st.text(alphabet="aZ09 \t\u3000-ß٣", max_size=36))
def test_doc_number_matches_reference(doc_type: str, raw: str) -> None:
    assert normalize_doc_number(doc_type, raw) == ref_doc_number(doc_type, raw)


@SETTINGS
@given(st.text(alphabet="0123456789Xx٣", min_size=16, max_size=19))
def test_gb11643_matches_reference(national_id: Callable[[str], str], number: str) -> None:
    first17 = number[:17]
    expected = (
        len(number) == 18
        and all("0" <= ch <= "9" for ch in first17)
        and number == national_id(first17)
    )
    assert gb11643_valid(number) is expected


@SETTINGS
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_gb11643_accepts_computed_check_char(
    national_id: Callable[[str], str], first17: str
) -> None:
    assert gb11643_valid(national_id(first17))


def test_contract_example_national_id_passes_the_check_digit() -> None:
    # 371002199001011237 from the contract: weighted sum 203, 203 mod 11 = 5, "10X98765432"[5] = 7.
    assert gb11643_valid("371002199001011237")
    assert not gb11643_valid("371002199001011238")


def test_lower_case_x_is_not_a_check_char(national_id: Callable[[str], str]) -> None:
    # Callers check normalised (upper-cased) numbers; a raw `x` is a caller bug.
    ids = (national_id(f"1100001990010{n:04d}") for n in range(100))
    number = next(i for i in ids if i.endswith("X"))
    assert gb11643_valid(number)
    assert not gb11643_valid(number[:17] + "x")


@pytest.mark.parametrize(
    ("doc_number", "ok"),
    [
        ("371002199001011237", True),
        ("371002199001011230", False),
        ("37100219900101", True),
        ("371002900101123", True),
        ("3710021990010112370", True),
    ],
)
def test_national_id_ok_checks_only_18_chars(doc_number: str, ok: bool) -> None:
    assert check_digit_ok("national_id", doc_number) is ok
    # Other document types carry no check digit, whatever they look like.
    assert check_digit_ok("passport", doc_number) is True


@pytest.mark.parametrize(
    "raw",
    [
        "a4:5e:60:d1:22:9f",
        "A45E.60D1.229F",
        "a4-5e-60-d1-22-9f",
        "a45e60d1229f",
        "A4:5E:60:D1:22:9F",
    ],
)
def test_mac_forms_from_the_contract(raw: str) -> None:
    assert normalize_device_id("mac", raw) == "a45e60d1229f"


@pytest.mark.parametrize(
    ("id_type", "raw"),
    [
        ("mac", "a45e60d1229"),
        ("mac", "a45e60d1229f0"),
        ("mac", "a4 5e 60 d1 22 9f"),
        ("mac", "g45e60d1229f"),
        ("imsi", "46000123456789"),
        ("imsi", "46000 1234567890"),
        ("imei", "٣5123456789012 "),
        ("etag", ""),
        ("etag", "A" * 33),
        ("etag", "AB-12"),
        ("usb", "123"),
        ("mac", 123),
    ],
)
def test_invalid_device_ids(id_type: str, raw: str) -> None:
    assert normalize_device_id(id_type, raw) is None


def test_plate_examples() -> None:
    assert normalize_plate("鲁K·12345") == "鲁K12345"
    assert normalize_plate(" ab-12.cd ") == "AB12CD"
    assert normalize_plate(" -·. ") is None
    assert normalize_plate("A" * 17) is None
    assert canonical_plate("鲁K1Z345") == canonical_plate("鲁K12345") == "鲁K12345"
    assert canonical_plate("京BQ0S8") == "京80058"


def test_ocr_classes_are_the_contract_ones() -> None:
    assert {frozenset(c) for c in OCR_CLASSES} == {
        frozenset("0ODQ"),
        frozenset("1IL"),
        frozenset("2Z"),
        frozenset("5S"),
        frozenset("6G"),
        frozenset("8B"),
    }
    assert [c[0] for c in OCR_CLASSES] == ["0", "1", "2", "5", "6", "8"]


def test_id_type_codes_are_the_binary_ones() -> None:
    assert ID_TYPE_CODES == {"mac": 1, "imsi": 2, "imei": 3, "etag": 4}
    assert {ID_TYPE_NAMES[c]: c for c in ID_TYPE_NAMES} == ID_TYPE_CODES
    assert tuple(ID_TYPE_CODES) == ID_TYPES
