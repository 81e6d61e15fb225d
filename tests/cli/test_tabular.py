"""Rows of JSON-lines and CSV files: line numbers, BOM, bad lines as values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.tabular import PROGRESS_EVERY_ROWS, RowError, file_format, read_rows


def rows(tmp_path: Path, name: str, data: bytes, fmt: str = "auto") -> list:
    path = tmp_path / name
    path.write_bytes(data)
    return list(read_rows(str(path), fmt))


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_csv_rows_map_the_header_to_cells_with_their_line_numbers(tmp_path: Path,
                                                                  bom: bytes) -> None:
    data = bom + ('location_id,kind,areas,name\r\n'
                  'C-1,camera,old-town;port,"Ring Rd, ""north"""\r\n'
                  '\r\n'
                  'P-7,property,,"two\nlines"\n'
                  'S-1,sensor\n'
                  'S-2,sensor,a,b,extra\n'
                  'S-3,sensor,été,x\n').encode()
    got = rows(tmp_path, "l.csv", data)
    assert got == [
        (2, {"location_id": "C-1", "kind": "camera", "areas": "old-town;port",
             "name": 'Ring Rd, "north"'}),
        (4, {"location_id": "P-7", "kind": "property", "areas": "", "name": "two\nlines"}),
        (6, RowError("bad_csv", "2 cells, the header has 4")),
        (7, RowError("bad_csv", "5 cells, the header has 4")),
        (8, {"location_id": "S-3", "kind": "sensor", "areas": "été", "name": "x"}),
    ]


def test_a_csv_line_that_is_not_utf8_is_refused_alone(tmp_path: Path) -> None:
    got = rows(tmp_path, "l.csv", b"location_id,name\nC-1,caf\xe9\nC-2,ok\n")
    assert got == [(2, RowError("bad_utf8", "not UTF-8")), (3, {"location_id": "C-2",
                                                                  "name": "ok"})]


def test_a_repeated_header_name_ends_the_file(tmp_path: Path) -> None:
    got = rows(tmp_path, "l.csv", b"\n\nlocation_id,location_id\nC-1,C-2\n")
    assert [(n, r.reason) for n, r in got] == [(3, "bad_header")]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_json_lines_are_objects_and_bad_lines_say_why(tmp_path: Path, bom: bytes) -> None:
    data = bom + b'{"a": 1}\n\n  \n[1]\n{"a": \n{"b": "\xc3\xa9"}\n"\xff"\n'
    got = rows(tmp_path, "l.jsonl", data)
    assert [(n, r if isinstance(r, dict) else r.reason) for n, r in got] == [
        (1, {"a": 1}), (4, "not_a_record"), (5, "bad_json"), (6, {"b": "é"}), (7, "bad_json")]


def test_the_format_follows_the_suffix_unless_given(tmp_path: Path) -> None:
    assert file_format("x.CSV") == "csv" and file_format("x.jsonl") == "jsonl"
    assert file_format("-") == "jsonl" and file_format("x.txt", "csv") == "csv"
    assert rows(tmp_path, "data.txt", b"a\n1\n", fmt="csv") == [(2, {"a": "1"})]


def test_progress_reaches_the_file_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"i": 1}\n' * (3 * PROGRESS_EVERY_ROWS))
    seen: list[tuple[int, int]] = []
    assert len(list(read_rows(str(path), progress=lambda d, t: seen.append((d, t))))) == 3000
    assert len(seen) == 4 and seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
