"""JSON-lines input read a block at a time (cli/rowfile.py) against the plain reading it
replaces: a binary file iterated line by line, BOM dropped from line 1, each line stripped,
blank lines skipped but counted."""

from __future__ import annotations

import io

import hypothesis.strategies as st
import pytest
from hypothesis import given

from cli import rowfile
from cli.rowfile import BOM, numbered_line_chunks, numbered_lines


def reference(data: bytes) -> list[tuple[int, bytes]]:
    """What numbered_lines yielded when it iterated the file line by line."""
    lines = []
    for n, line in enumerate(io.BytesIO(data), 1):
        line = (line[len(BOM):] if n == 1 and line.startswith(BOM) else line).strip()
        if line:
            lines.append((n, line))
    return lines


class ShortReads(io.BytesIO):
    """A stream whose reads return at most `most` bytes, as a pipe's may."""

    def __init__(self, data: bytes, most: int) -> None:
        super().__init__(data)
        self.most = most

    def read1(self, size: int = -1) -> bytes:
        return super().read1(min(size, self.most) if size >= 0 else self.most)


# Pieces a file is made of: commands, whitespace, CRLF, blank lines, a BOM anywhere.
PIECES = st.sampled_from([b'{"op":"upsert"}', b"x", b"\n", b"\r\n", b"\r", b" ", b"\t",
                          b"\x0b", BOM, b"\xef\xbb", "鲁K".encode(), b"\n\n"])
FILES = st.lists(PIECES, max_size=40).map(b"".join)


@given(data=FILES, most=st.integers(1, 64), max_lines=st.integers(1, 5))
def test_chunks_are_the_lines_read_one_by_one(data: bytes, most: int, max_lines: int) -> None:
    chunks = list(numbered_line_chunks(ShortReads(data, most), max_lines))
    assert [pair for numbers, lines in chunks for pair in zip(numbers, lines, strict=True)
            ] == reference(data)
    assert all(len(lines) == max_lines for _, lines in chunks[:-1])
    assert all(0 < len(lines) <= max_lines for _, lines in chunks)


@given(data=FILES, read_bytes=st.integers(1, 16))
def test_numbered_lines_are_the_lines_read_one_by_one(data: bytes, read_bytes: int) -> None:
    with pytest.MonkeyPatch.context() as patch:  # a file read a few bytes a call
        patch.setattr(rowfile, "READ_BYTES", read_bytes)
        assert list(numbered_lines(io.BytesIO(data))) == reference(data)


def test_line_numbers_run_on_across_blocks_and_chunks() -> None:
    data = BOM + b"a\r\n\n  \nbb\nccc\n\n" + b"d\n" * 5 + b"last without newline"
    chunks = list(numbered_line_chunks(ShortReads(data, 3), 3))
    assert chunks == [([1, 4, 5], [b"a", b"bb", b"ccc"]), ([7, 8, 9], [b"d"] * 3),
                      ([10, 11, 12], [b"d", b"d", b"last without newline"])]


def test_a_bom_only_counts_on_the_first_line() -> None:
    data = BOM + b"\n" + BOM + b"x\n"
    assert list(numbered_lines(ShortReads(data, 1))) == [(2, BOM + b"x")]


def test_a_line_longer_than_a_read_is_whole() -> None:
    line = b"y" * 10_000
    assert list(numbered_lines(ShortReads(b"\n" + line, 7))) == [(2, line)]


def test_a_chunk_holds_at_least_one_line() -> None:
    with pytest.raises(ValueError):
        list(numbered_line_chunks(io.BytesIO(b"a\n"), 0))
