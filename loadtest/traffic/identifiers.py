"""Vectorised identifiers for synthetic traffic: devices, plates, identity documents.

Every generator takes a `watched` flag. Watched keys (those put on the watchlist) and
background keys come from disjoint spaces, by a marker character that no normalisation
or OCR confusion class can change, so background traffic never hits an entry by accident
and the generator knows every hit it plants. The reference matcher in
`loadtest.traffic.groundtruth` checks that claim on generated traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np

from schemas.normalize import ID_TYPE_CODES, OCR_CLASSES

HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
# Letters outside every OCR confusion class, so a marker letter survives any OCR noise.
_CONFUSABLE = set("".join(OCR_CLASSES))
SAFE_LETTERS = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in _CONFUSABLE)
WATCH_MARK = "X"  # the marker letter of watched plates and e-tags
BACKGROUND_LETTERS = SAFE_LETTERS.replace(WATCH_MARK, "")
ETAG_CHARS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
# Chinese provincial plate prefixes (one character each).
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Real plates leave out I and O; OCR noise brings them back.
PLATE_BODY = np.frombuffer(b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", dtype=np.uint8)
_GB11643_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_GB11643_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
T = TypeVar("T")
"""A generated identifier (str, or bytes for device ids)."""
REGION_CODES = np.array([110101, 310104, 370102, 440305, 510107, 330106, 320102, 420106])


def _pick(rng: np.random.Generator, alphabet: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return alphabet[rng.integers(0, len(alphabet), size=shape)]


def _as_str(chars: np.ndarray) -> np.ndarray:
    """Turn an (n, k) uint8 matrix of ASCII into an array of n bytes strings (S<k>)."""
    return np.ascontiguousarray(chars).view(f"S{chars.shape[1]}").ravel()


def device_ids(rng: np.random.Generator, id_type: int, n: int, watched: bool) -> np.ndarray:
    """Return n normalised device ids of one id type code as an S16 array.

    Marker: MACs start with 0-7 (background) or 8-f (watched); IMSI and IMEI start with
    4/3 (background) or 9 (watched); e-tags start with a background letter or with X.
    """
    if id_type == ID_TYPE_CODES["mac"]:
        chars = _pick(rng, HEX, (n, 12))
        chars[:, 0] = _pick(rng, HEX[8:] if watched else HEX[:8], (n,))
    elif id_type in (ID_TYPE_CODES["imsi"], ID_TYPE_CODES["imei"]):
        chars = _pick(rng, DIGITS, (n, 15))
        chars[:, 0] = ord("9") if watched else ord("4" if id_type == ID_TYPE_CODES["imsi"] else "3")
    else:
        chars = np.zeros((n, 16), dtype=np.uint8)
        lengths = rng.integers(8, 17, size=n)
        body = _pick(rng, ETAG_CHARS, (n, 16))
        chars[np.arange(16) < lengths[:, None]] = body[np.arange(16) < lengths[:, None]]
        mark = np.frombuffer((WATCH_MARK if watched else BACKGROUND_LETTERS).encode(), np.uint8)
        chars[:, 0] = _pick(rng, mark, (n,))
    return _as_str(chars).astype("S16")


def plates(rng: np.random.Generator, n: int, watched: bool, cn_share: float = 0.8) -> list[str]:
    """Return n normalised plates: Chinese provincial (ordinary and new-energy) and British.

    Marker: the Chinese city letter and the first British letter are X when watched, another
    letter outside the OCR confusion classes otherwise.
    """
    marks = WATCH_MARK if watched else BACKGROUND_LETTERS
    out = []
    body = _pick(rng, PLATE_BODY, (n, 6)).view("S6").ravel()
    is_cn = rng.random(n) < cn_share
    new_energy = rng.random(n) < 0.1
    provinces = rng.integers(0, len(PROVINCES), size=n)
    mark_idx = rng.integers(0, len(marks), size=n)
    letters = _pick(rng, np.frombuffer(SAFE_LETTERS.encode(), np.uint8), (n, 4)).view("S4").ravel()
    digits = _pick(rng, DIGITS, (n, 2)).view("S2").ravel()
    for i in range(n):
        b = body[i].decode()
        if is_cn[i]:
            tail = b if new_energy[i] else b[:5]
            out.append(PROVINCES[provinces[i]] + marks[mark_idx[i]] + tail)
        else:  # British: two letters, two digits, three letters
            lt = letters[i].decode()
            out.append(marks[mark_idx[i]] + lt[0] + digits[i].decode() + lt[1:4])
    return out


def distinct(draw: Callable[[int], Sequence[T]], n: int,
             key: Callable[[T], Hashable] = lambda v: v) -> list[T]:
    """Return n values from repeated `draw(k)` calls, no two with the same `key`.

    Random keys may repeat, and two watchlist entries with one key (for plates: one
    OCR-canonical form, or a noisy read of one would hit the other) would leave the
    generator unable to say which entry a planted record hits.
    """
    found: dict[Hashable, T] = {}
    while len(found) < n:
        for value in draw(n - len(found)):
            found.setdefault(key(value), value)
    return list(found.values())[:n]


def national_ids(rng: np.random.Generator, n: int, watched: bool) -> list[str]:
    """Return n 18-character GB 11643 national ids with valid check digits.

    Marker: born 1950-1969 when watched, 1970-2005 otherwise.
    """
    years = rng.integers(1950, 1970, size=n) if watched else rng.integers(1970, 2006, size=n)
    dates = years * 10_000 + rng.integers(1, 13, size=n) * 100 + rng.integers(1, 29, size=n)
    regions = REGION_CODES[rng.integers(0, len(REGION_CODES), size=n)]
    seq = rng.integers(0, 1000, size=n)
    first17 = [f"{r:06d}{d:08d}{s:03d}" for r, d, s in zip(regions, dates, seq, strict=True)]
    digits = np.frombuffer("".join(first17).encode(), np.uint8).reshape(n, 17) - ord("0")
    checks = _GB11643_CHECK[(digits * _GB11643_WEIGHTS).sum(axis=1) % 11]
    return [f + chr(c) for f, c in zip(first17, checks, strict=True)]


def corrupt_check_digit(number: str) -> str:
    """Return a national id whose last character no longer passes GB 11643."""
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


def passports(rng: np.random.Generator, n: int, watched: bool) -> list[str]:
    """Return n passport numbers: E (watched) or G (background) and eight digits."""
    prefix = "E" if watched else "G"
    return [prefix + f"{v:08d}" for v in rng.integers(0, 100_000_000, size=n)]


def ocr_variant(rng: np.random.Generator, plate: str) -> str:
    """Return the plate with one character swapped for another of its OCR confusion class,
    or the plate unchanged when it has no confusable character."""
    positions = [i for i, ch in enumerate(plate) if ch in _CONFUSABLE]
    if not positions:
        return plate
    i = positions[int(rng.integers(0, len(positions)))]
    cls = next(c for c in OCR_CLASSES if plate[i] in c)
    others = cls.replace(plate[i], "")
    return plate[:i] + others[int(rng.integers(0, len(others)))] + plate[i + 1 :]
