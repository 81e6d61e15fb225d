"""Reading the rows of a file for the `load` commands: JSON lines, or CSV with a header
row; UTF-8 with or without a byte-order mark; each row with the number of the line it
starts on, and a bad row as a value (RowError), so that a load reports every refused line
and goes on.

A JSON-lines row is the line's object as parsed. A CSV row maps each header name to its
cell, a string (empty for an empty cell: what an empty cell means is the caller's rule).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from schemas.json import JSONDecodeError, loads
from schemas.records import json_type
from schemas.rejection import short_repr

FORMATS = ("auto", "csv", "jsonl")
BOM = b"\xef\xbb\xbf"
# How many rows between two calls of the progress callback.
PROGRESS_EVERY_ROWS = 1000


@dataclass(frozen=True, slots=True)
class RowError:
    """A line that is no row: `reason` is bad_json, not_a_record, bad_utf8, bad_csv or
    bad_header (the header row itself; no row follows it); `detail` is one line."""

    reason: str
    detail: str


Row = dict[str, Any]
# Called with (bytes read so far, the file's size, 0 when unknown: standard input).
Progress = Callable[[int, int], None]


def file_format(path: str, fmt: str = "auto") -> str:
    """Return `csv` or `jsonl`: `fmt` unless auto, else by the file's suffix (.csv is CSV,
    anything else and standard input JSON lines)."""
    if fmt != "auto":
        return fmt
    return "csv" if path != "-" and path.lower().endswith(".csv") else "jsonl"


def read_rows(path: str, fmt: str = "auto",
              progress: Progress | None = None) -> Iterator[tuple[int, Row | RowError]]:
    """Yield (line number, row or RowError) for each non-blank row of the file at `path`
    (`-`: standard input), JSON lines or CSV as `file_format(path, fmt)` says."""
    with contextlib.ExitStack() as stack:
        raw: BinaryIO = (sys.stdin.buffer if path == "-"
                         else stack.enter_context(Path(path).open("rb")))
        size = 0 if path == "-" else os.fstat(raw.fileno()).st_size
        rows = _csv_rows(raw) if file_format(path, fmt) == "csv" else _json_rows(raw)
        for count, item in enumerate(rows, 1):
            if progress is not None and count % PROGRESS_EVERY_ROWS == 0:
                progress(_position(raw), size)
            yield item
        if progress is not None:
            progress(_position(raw), size)


def _position(raw: BinaryIO) -> int:
    with contextlib.suppress(OSError, ValueError):
        return raw.tell()
    return 0


def _json_rows(raw: BinaryIO) -> Iterator[tuple[int, Row | RowError]]:
    for n, line in enumerate(raw, 1):
        if n == 1 and line.startswith(BOM):
            line = line[len(BOM):]
        line = line.strip()
        if not line:
            continue
        try:
            doc = loads(line)  # orjson refuses invalid UTF-8 with its own message
        except JSONDecodeError as exc:
            yield n, RowError("bad_json", f"not JSON: {short_repr(str(exc))}")
            continue
        yield n, doc if isinstance(doc, dict) else RowError(
            "not_a_record", f"expected an object, got {json_type(doc)}")


def _csv_rows(raw: BinaryIO) -> Iterator[tuple[int, Row | RowError]]:
    # utf-8-sig drops a BOM; surrogateescape lets a bad byte through to its row, which is
    # then refused alone instead of ending the file.
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    header: list[str] | None = None
    start = 1
    try:
        for cells in reader:
            n, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if _undecodable(cells):
                yield n, RowError("bad_utf8", "not UTF-8")
                if header is None:
                    return
                continue
            if header is None:
                header = [c.strip() for c in cells]
                if len(set(header)) != len(header) or not all(header):
                    yield n, RowError("bad_header", f"header names empty or repeated: {header}")
                    return
                continue
            if len(cells) != len(header):
                yield n, RowError("bad_csv", f"{len(cells)} cells, the header has {len(header)}")
                continue
            yield n, dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        yield start, RowError("bad_csv", short_repr(str(exc)))
    finally:
        text.detach()  # the caller closes the file


def _undecodable(cells: list[str]) -> bool:
    try:
        "".join(cells).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
