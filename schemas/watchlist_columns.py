"""Field rules of watchlist commands applied to a column of values at once.

Each check takes one field's values for a group of commands and returns the positions it
is not sure about: the batch decoder (schemas/watchlist_batch.py) sends those commands to
the per-record decoder (schemas/watchlist.py), which gives the verdict and its reason. So a
check may refuse a value the rule accepts (it only costs time), never the other way round.
The whole column is tried first with C-speed str and set operations; only when that fails
is each value judged, by the per-record decoder's own functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from schemas.identifiers import MAX_ID_CHARS, identifier_problem
from schemas.normalize import (
    DOC_TYPES,
    IMSI_IMEI_DIGITS,
    MAC_DIGITS,
    MAX_DOC_NUMBER_CHARS,
    MAX_ETAG_CHARS,
    MAX_PLATE_CHARS,
    NATIONAL_ID_CHARS,
    check_digit_ok,
    normalize_device_id,
    normalize_doc_number,
    normalize_plate,
)
from schemas.timestamps import MAX_TS_MS, parse_ts

Failing = set[int]
"""Positions in a column whose command the per-record decoder must judge."""

# Sums of int64 timestamps and TTLs below this cannot overflow.
_SAFE_MS = 2**61
_LOWER_HEX = b"0123456789abcdef"
# Printable ASCII but the space, `/` and `%`: what an identifier of plain characters holds.
_PLAIN_ID_ASCII = bytes(c for c in range(0x21, 0x7F) if c not in b"/%")


def failing(column: Sequence[object], ok: Callable[[object], bool]) -> Failing:
    """Return the positions whose value `ok` refuses, judging each distinct value once.

    `ok` must refuse every value but str and None, checking the type before anything else:
    those equal only themselves, so judging the distinct values judges them all (not so
    numbers: 1 == 1.0 == True).
    """
    if not column:
        return set()
    first = column[0]
    if column.count(first) == len(column):  # the usual batch: one list, one requester...
        return set() if ok(first) else set(range(len(column)))
    try:
        refused = {v for v in set(column) if not ok(v)}
    except TypeError:  # an array or object among them: unhashable, and refused by ok
        return {j for j, v in enumerate(column) if not ok(v)}
    if not refused:
        return set()
    return {j for j, v in enumerate(column) if v in refused}


def failing_texts(column: Sequence[object], max_chars: int) -> Failing:
    """Return the positions that `required_str(..., max_chars, blank_ok=False)` would not
    return as they are: not a str of 1..max_chars characters, or whitespace only."""
    if column and column.count(column[0]) != len(column) and set(map(type, column)) == {str}:
        # Many different texts (case numbers, say): judged together.
        lengths = set(map(len, column))  # type: ignore[arg-type]
        if min(lengths) > 0 and max(lengths) <= max_chars and not any(
                map(str.isspace, column)):  # type: ignore[arg-type]
            return set()
    # str.strip() and str.isspace() agree on what whitespace is.
    return failing(column, lambda v: type(v) is str and 0 < len(v) <= max_chars
                   and not v.isspace())


def failing_ints(column: Sequence[object], lo: int, hi: int) -> Failing:
    """Return the positions that are not an int in [lo, hi] (a bool is not an int here)."""
    if not column:
        return set()
    if set(map(type, column)) == {int}:
        distinct = set(column)
        if lo <= min(distinct) and max(distinct) <= hi:
            return set()
    return {j for j, v in enumerate(column) if type(v) is not int or not lo <= v <= hi}


def failing_ids(ids: Sequence[object]) -> Failing:
    """Return the positions that are not valid identifiers (schemas/identifiers.py)."""
    if not ids:
        return set()
    try:
        # `/` is never in an identifier, so it can separate them: a space next to one is a
        # space at an id's end, and `//` an empty id.
        joined: str | None = "/" + "/".join(ids) + "/"  # type: ignore[arg-type]
    except TypeError:  # not all str
        joined = None
    if (  # plain ASCII ids (a bulk load's): left to rule out, the empty and the long ones
        joined is not None
        and joined.isascii()  # str.isprintable looks each character up: 10 times slower
        and joined.encode().translate(None, _PLAIN_ID_ASCII) == b"/" * (len(ids) + 1)
        and "//" not in joined
        and max(map(len, ids)) <= MAX_ID_CHARS  # type: ignore[arg-type]
    ):
        return set()
    if (
        joined is not None
        and joined.isprintable()  # then U+0020 is the only whitespace there
        and joined.count("/") == len(ids) + 1
        and "%" not in joined
        and " /" not in joined
        and "/ " not in joined
        and "//" not in joined
        and max(map(len, ids)) <= MAX_ID_CHARS  # type: ignore[arg-type]
    ):
        return set()
    # A valid id may hold a non-printable space inside; only the rule itself knows.
    return {j for j, v in enumerate(ids) if identifier_problem(v) is not None}


def failing_keys(ids: Sequence[object], keys: Sequence[bytes | None]) -> Failing:
    """Return the positions whose message key is given but is not the entry_id (decoded
    as UTF-8 with replacement, like the per-record decoder)."""
    if keys.count(None) == len(keys):
        return set()
    try:
        if list(map(str.encode, ids)) == list(keys):  # type: ignore[arg-type]
            return set()
    except (TypeError, UnicodeEncodeError):  # an id that is not a str, or a lone surrogate
        pass
    return {j for j, (v, k) in enumerate(zip(ids, keys, strict=True))
            if k is not None and k.decode("utf-8", "replace") != v}


def expiries(column: Sequence[object], reference_ms: Sequence[int], max_ttl_ms: int
             ) -> tuple[np.ndarray, Failing]:
    """Return expires_at as int64 epoch ms (0 where failing), and the positions that are no
    timestamp (`required_ts`), or not after their reference, or beyond it by max_ttl_ms."""
    n = len(column)
    expires: np.ndarray | None = None
    bad: Failing = set()
    if set(map(type, column)) <= {int}:
        try:
            expires = np.array(column, dtype=np.int64)
        except OverflowError:
            expires = None
        else:
            out_of_range = (expires < 0) | (expires > MAX_TS_MS)
            if out_of_range.any():
                bad = set(np.flatnonzero(out_of_range).tolist())
    if expires is None:  # RFC 3339 strings, or anything else: the rule's own parser
        parsed = [parse_ts(v) for v in column]
        bad = {j for j, ts in enumerate(parsed) if ts is None}
        expires = np.array([0 if ts is None else ts for ts in parsed], dtype=np.int64)
    try:
        refs = np.asarray(reference_ms, dtype=np.int64)
    except OverflowError:
        refs = None
    if refs is not None and abs(max_ttl_ms) < _SAFE_MS and (
        n == 0 or (refs.min() > -_SAFE_MS and refs.max() < _SAFE_MS)
    ):
        in_time = (expires > refs) & (expires <= refs + max_ttl_ms)
    else:  # beyond int64: Python ints
        in_time = np.array([r < e <= r + max_ttl_ms for e, r in
                            zip(expires.tolist(), reference_ms, strict=True)], dtype=bool)
    if not in_time.all():
        bad |= set(np.flatnonzero(~in_time).tolist())
    if bad:
        expires[list(bad)] = 0
    return expires, bad


def _joined(raws: Sequence[object], lo: int, hi: int) -> str | None:
    """Return the raw keys joined when all are str of lo..hi characters, else None."""
    try:
        joined = "".join(raws)  # type: ignore[arg-type]
    except TypeError:
        return None
    lengths = set(map(len, raws))  # type: ignore[arg-type]
    return joined if lo <= min(lengths) and max(lengths) <= hi else None


def _normal_macs(raws: Sequence[object]) -> list[str] | None:
    joined = _joined(raws, MAC_DIGITS, MAC_DIGITS)
    ok = joined is not None and joined.isascii() and not joined.encode().translate(None, _LOWER_HEX)
    return list(raws) if ok else None  # type: ignore[arg-type]


def _normal_digits(raws: Sequence[object]) -> list[str] | None:
    joined = _joined(raws, IMSI_IMEI_DIGITS, IMSI_IMEI_DIGITS)
    ok = joined is not None and joined.isascii() and joined.isdigit()
    return list(raws) if ok else None  # type: ignore[arg-type]


def _etags(raws: Sequence[object]) -> list[str] | None:
    joined = _joined(raws, 1, MAX_ETAG_CHARS)
    ok = joined is not None and joined.isascii() and joined.isalnum()
    return list(map(str.upper, raws)) if ok else None  # type: ignore[arg-type]


def _unchanged(raws: Sequence[object], max_chars: int) -> list[str] | None:
    """Raw keys that `normalize_plate` and `normalize_doc_number` leave as they are:
    letters and digits only (no character of Unicode is both alphanumeric and whitespace or
    a plate separator), upper case already."""
    joined = _joined(raws, 1, max_chars)
    if joined is None or not joined.isalnum():
        return None
    keys = list(raws)
    return keys if list(map(str.upper, keys)) == keys else None  # type: ignore[arg-type]


_GB11643_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], np.int64)
_GB11643_CHECK = np.frombuffer(b"10X98765432", np.uint8)


def _national_ids(raws: Sequence[object]) -> list[str] | None:
    """Unchanged document numbers whose 18-character ones pass GB 11643 (checked as one
    array: the per-record check is a Python loop over 17 digits)."""
    keys = _unchanged(raws, MAX_DOC_NUMBER_CHARS)
    if keys is None:
        return None
    full = [k for k in keys if len(k) == NATIONAL_ID_CHARS]
    if full:
        chars = "".join(full)
        if not chars.isascii():
            return None
        table = np.frombuffer(chars.encode("ascii"), np.uint8).reshape(len(full), 18)
        digits = table[:, :17].astype(np.int64) - ord("0")
        if ((digits < 0) | (digits > 9)).any():
            return None
        check = _GB11643_CHECK[(digits @ _GB11643_WEIGHTS) % 11]
        if not (table[:, 17] == check).all():
            return None
    return keys


def _document_number(doc_type: str, raw: object) -> str | None:
    key = normalize_doc_number(doc_type, raw)  # type: ignore[arg-type]
    return key if key is not None and check_digit_ok(doc_type, key) else None


# Per (subject_type, kind): the whole-column normaliser (None: not sure) and the
# per-record decoder's own one for a single raw key (None: the key is refused).
_NORMALIZERS: dict[tuple[str, str], tuple[Callable[[Sequence[object]], list[str] | None],
                                          Callable[[object], str | None]]] = {
    ("device", "mac"): (_normal_macs, partial(normalize_device_id, "mac")),
    ("device", "imsi"): (_normal_digits, partial(normalize_device_id, "imsi")),
    ("device", "imei"): (_normal_digits, partial(normalize_device_id, "imei")),
    ("device", "etag"): (_etags, partial(normalize_device_id, "etag")),
    ("plate", ""): (partial(_unchanged, max_chars=MAX_PLATE_CHARS), normalize_plate),
    ("document", "national_id"): (_national_ids, partial(_document_number, "national_id")),
    **{("document", t): (partial(_unchanged, max_chars=MAX_DOC_NUMBER_CHARS),
                         partial(_document_number, t)) for t in DOC_TYPES if t != "national_id"},
}
KINDS: frozenset[tuple[str, str]] = frozenset(_NORMALIZERS)
"""Every valid (subject_type, kind) pair."""


def normalized_keys(subject_type: str, kind: str, raws: Sequence[object]
                    ) -> tuple[list[str], Failing]:
    """Return the raw keys of one (subject_type, kind) normalised as the per-record decoder
    does it ("" where it refuses them), and the positions it refuses."""
    whole, one = _NORMALIZERS[subject_type, kind]
    keys = whole(raws)
    if keys is not None:
        return keys, set()
    out = list(map(one, raws))
    bad = {j for j, key in enumerate(out) if key is None}
    for j in bad:
        out[j] = ""
    return out, bad  # type: ignore[return-value]
