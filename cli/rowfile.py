"""Input files of the CLI's load commands: JSON lines or CSV, UTF-8 with or without a BOM.

`open_input` opens a file (or stdin for `-`) as bytes; `numbered_lines` yields its non-blank
lines (`numbered_line_chunks` the same, many at a time) and `csv_rows` its CSV rows by header
name, each with the line number it starts on, so that every refusal can name its line. A BOM
(spreadsheets write one) is dropped from the first line only.
"""

from __future__ import annotations

import contextlib
import csv
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"
# Bytes asked for in one read of a JSON-lines file: its lines are split and stripped a block
# at a time, a bulk load's 10^6 lines in a few hundred calls instead of a loop step each.
READ_BYTES = 1 << 20


class HeaderError(ValueError):
    """A CSV file whose header row cannot be used: nothing of it is loaded."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One CSV data row: `cells` by column name (empty cells left out), or `problem` when
    the row cannot be read (not UTF-8, more cells than columns)."""

    line: int
    cells: dict[str, str]
    problem: str | None = None


@contextlib.contextmanager
def open_input(source: str) -> Iterator[BinaryIO]:
    """Open source for reading bytes; `-` is standard input (left open afterwards)."""
    if source == "-":
        yield sys.stdin.buffer
    else:
        with Path(source).open("rb") as stream:
            yield stream


def input_size(stream: BinaryIO) -> int | None:
    """Return the size of a regular file in bytes, None for a pipe or a terminal."""
    try:
        return stream.seek(0, 2) - stream.seek(0) if stream.seekable() else None
    except OSError:
        return None


def is_csv(source: str) -> bool:
    """Tell whether source names a CSV file (by its `.csv` suffix, any case)."""
    return source.lower().endswith(".csv")


def _without_bom(first_line: bytes) -> bytes:
    return first_line[len(BOM):] if first_line.startswith(BOM) else first_line


def _physical_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for n, line in enumerate(stream, 1):
        yield n, _without_bom(line) if n == 1 else line


def _line_blocks(stream: BinaryIO) -> Iterator[list[bytes]]:
    """Yield the lines of stream (split on b"\n", as iterating a binary file splits them,
    without the b"\n"; BOM dropped from the first), those whole in each read, in order."""
    # read1 returns what one read gives: a pipe's lines come as soon as they are written.
    read = getattr(stream, "read1", stream.read)
    partial: list[bytes] = []  # the pieces of a line not ended yet
    first = True
    while block := read(READ_BYTES):
        lines = block.split(b"\n")
        if len(lines) == 1:
            partial.append(block)
            continue
        if partial:
            lines[0] = b"".join([*partial, lines[0]])
        last = lines.pop()
        partial = [last] if last else []
        if first:
            lines[0], first = _without_bom(lines[0]), False
        yield lines
    if partial:
        line = b"".join(partial)
        yield [_without_bom(line) if first else line]


def _numbered_blocks(stream: BinaryIO) -> Iterator[tuple[list[int], list[bytes]]]:
    """Yield (line numbers, lines without surrounding whitespace) of the non-blank lines of
    each block that _line_blocks reads."""
    before = 0  # lines before the block
    for lines in _line_blocks(stream):
        stripped = list(map(bytes.strip, lines))
        if b"" in stripped:  # a blank line is skipped, yet counted
            numbers = [before + n for n, line in enumerate(stripped, 1) if line]
            stripped = list(filter(None, stripped))
        else:
            numbers = list(range(before + 1, before + 1 + len(stripped)))
        before += len(lines)
        if stripped:
            yield numbers, stripped


def numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, line without surrounding whitespace) for each non-blank line."""
    for numbers, lines in _numbered_blocks(stream):
        yield from zip(numbers, lines, strict=True)


def numbered_line_chunks(stream: BinaryIO, max_lines: int
                         ) -> Iterator[tuple[list[int], list[bytes]]]:
    """Yield what numbered_lines yields as (line numbers, lines), max_lines of each at a
    time; only the last chunk is shorter."""
    if max_lines < 1:
        raise ValueError(f"max_lines {max_lines} is not positive")
    numbers: list[int] = []
    lines: list[bytes] = []
    for more_numbers, more_lines in _numbered_blocks(stream):
        numbers += more_numbers
        lines += more_lines
        whole = len(lines) - len(lines) % max_lines
        for start in range(0, whole, max_lines):
            yield numbers[start:start + max_lines], lines[start:start + max_lines]
        del numbers[:whole], lines[:whole]
    if lines:
        yield numbers, lines


def csv_rows(stream: BinaryIO, columns: Collection[str]) -> Iterator[CsvRow]:
    """Yield the data rows of a CSV file (comma-separated, `"` quoting, header row first).

    The header must name only `columns`, each at most once: an unknown column (a misspelt
    `scope_hour`) would otherwise be dropped without a word, so it raises HeaderError before
    any row is read. Blank rows are skipped; a row with fewer cells than columns has the rest
    empty.
    """
    undecodable: set[int] = set()  # lines that are not UTF-8

    def text_lines() -> Iterator[str]:
        for n, line in _physical_lines(stream):
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                undecodable.add(n)
                yield line.decode("utf-8", "replace")

    reader = csv.reader(text_lines())
    header = next(reader, None)
    if header is None:
        raise HeaderError("empty file: expected a header row naming the columns")
    unknown = [name for name in header if name not in columns]
    duplicate = sorted({name for name in header if header.count(name) > 1})
    if unknown or duplicate:
        what = f"unknown column {unknown[0]!r}" if unknown else f"column {duplicate[0]!r} twice"
        raise HeaderError(f"line 1: {what}; the columns are: {', '.join(columns)}")
    end = reader.line_num
    while True:
        line = end + 1  # the csv reader reads no further than the record it returns
        try:
            cells = next(reader, None)
        except csv.Error as exc:  # a cell over the csv module's size limit
            end = reader.line_num
            yield CsvRow(line, {}, str(exc))
            continue
        end = reader.line_num
        if cells is None:
            return
        if undecodable:
            first_bad = min(undecodable)
            undecodable.clear()
            yield CsvRow(line, {}, f"line {first_bad} is not UTF-8")
        elif len(cells) > len(header):
            yield CsvRow(line, {}, f"{len(cells)} cells, more than the {len(header)} columns")
        elif any(cells):
            named = zip(header, cells, strict=False)  # a short row: the rest are empty
            yield CsvRow(line, {name: cell for name, cell in named if cell})
