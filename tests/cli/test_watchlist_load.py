"""`vigil watchlist load`: CSV and JSON lines, with and without a BOM, judged by the topic's
decoder; `--dry-run` prints what would be sent and every refused line (no broker needed)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import rowfile, watchlist_load
from cli.main import main
from cli.rowfile import BOM, CsvRow, HeaderError, csv_rows, numbered_lines
from cli.watchlist_csv import COLUMNS, command_of_row, hours_window
from cli.watchlist_load import LineChunk, judge_chunk
from schemas.clock import now_ms
from schemas.json import dumps, loads
from schemas.rejection import Rejected
from schemas.watchlist import decode_watchlist_command
from tests.schemas.test_watchlist_commands import REFERENCE_MS, TTL_DAYS, records

DAY_MS = 86_400_000
HEADER = ("op,entry_id,list,subject_type,id_type,key,priority,legal_basis,requested_by,"
          "expires_at,scope_locations,scope_areas,scope_hours,scope_tz")


def csv_file(tmp_path: Path, *rows: str, bom: bool = False, name: str = "w.csv") -> Path:
    path = tmp_path / name
    path.write_bytes((BOM if bom else b"") + "\n".join([HEADER, *rows, ""]).encode())
    return path


def dry_run(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, list[dict], str]:
    status = main(["watchlist", "load", str(path), "--dry-run"])
    out, err = capsys.readouterr()
    return status, [loads(line) for line in out.splitlines()], err


def test_command_of_row_converts_numbers_lists_and_hours() -> None:
    cells = {"op": "upsert", "priority": " 2 ", "expires_at": "1798000000000",
             "scope_locations": "C-1; C-2;", "scope_areas": "old-town",
             "scope_hours": "mon-fri 07:00-19:00;sat 22:00-06:00", "scope_tz": "Asia/Shanghai"}
    assert command_of_row(cells) == {
        "op": "upsert", "priority": 2, "expires_at": 1798000000000,
        "scope": {"locations": ["C-1", "C-2"], "areas": ["old-town"],
                  "hours": [{"days": "mon-fri", "from": "07:00", "to": "19:00"},
                            {"days": "sat", "from": "22:00", "to": "06:00"}],
                  "tz": "Asia/Shanghai"}}
    # What does not convert is passed on as it is, for the decoder to refuse.
    assert command_of_row({"priority": "high", "expires_at": "2027-01-01T00:00:00Z"}) == {
        "priority": "high", "expires_at": "2027-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("cell", "reason"),
    [("mon-wed, sat 07:00-08:00", None), ("sun 22:00-24:00", None),
     ("mon-fri", "bad_scope_hours"), ("mon 07:00", "bad_scope_hours"),
     ("mon 07:00-", "bad_scope_hours"), ("07:00-08:00", "bad_scope_hours"),
     ("monday 07:00-08:00", "bad_scope_days"), ("mon 07:00-08", "bad_scope_time")],
)
def test_hours_cells_are_judged_by_the_decoder(cell: str, reason: str | None) -> None:
    command = command_of_row({"op": "upsert", "entry_id": "W-1", "list": "l",
                              "subject_type": "plate", "key": "AB123", "priority": "1",
                              "legal_basis": "case", "requested_by": "u",
                              "expires_at": str(now_ms() + DAY_MS), "scope_hours": cell})
    result = decode_watchlist_command(dumps(command), None, now_ms(), 90)
    assert getattr(result, "reason", None) == reason, (hours_window(cell), result)


def test_csv_rows_name_their_lines() -> None:
    text = (BOM + b'op,legal_basis\n\nupsert,"two\nlines"\n'
            b"upsert,\xff\nupsert,a,b\nupsert\n")
    rows = list(csv_rows(io.BytesIO(text), COLUMNS))
    assert rows == [
        CsvRow(3, {"op": "upsert", "legal_basis": "two\nlines"}),
        CsvRow(5, {}, "line 5 is not UTF-8"),
        CsvRow(6, {}, "3 cells, more than the 2 columns"),
        CsvRow(7, {"op": "upsert"}),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [(b"", "empty file"), (b"op,scope_hour\nupsert,x\n", "unknown column 'scope_hour'"),
     (b"op,op\nupsert,x\n", "column 'op' twice")],
)
def test_a_bad_header_refuses_the_file(text: bytes, problem: str) -> None:
    with pytest.raises(HeaderError, match=problem):
        list(csv_rows(io.BytesIO(text), COLUMNS))


def test_numbered_lines_drop_the_bom_and_blank_lines() -> None:
    text = BOM + b'{"a": 1}\r\n\n  \n{"b": 2}\n'
    assert list(numbered_lines(io.BytesIO(text))) == [(1, b'{"a": 1}'), (4, b'{"b": 2}')]


@pytest.mark.parametrize("bom", [False, True])
def test_dry_run_of_a_csv_prints_commands_and_refusals(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bom: bool) -> None:
    expires = now_ms() + 10 * DAY_MS
    path = csv_file(
        tmp_path,
        f"upsert,W-1,stolen-vehicles,plate,,鲁K12345,2,case 1,unit-17,{expires},"
        "C-0042;C-0043,old-town,mon-fri 07:00-19:00;sat 22:00-06:00,Asia/Shanghai",
        f"upsert,W-2,stolen-vehicles,plate,,鲁K12346,x,case 1,unit-17,{expires},,,,",
        "",
        f"upsert,W-3,stolen-vehicles,plate,,鲁K12347,1,case 1,unit-17,{expires},,,mon 7:00-9:00,",
        f"upsert,W-4,devices,device,mac,a4:5e:60:d1:22:9f,1,case 2,unit-17,{expires},,,,",
        f"upsert,W-5,devices,device,mac,a4:5e:60:d1:22:9f,1,case 2,unit-17,{expires},,,,Mars/X",
        bom=bom)
    status, sent, err = dry_run(capsys, path)
    assert status == 1
    assert [c["entry_id"] for c in sent] == ["W-1", "W-4"]
    assert sent[0]["scope"] == {
        "locations": ["C-0042", "C-0043"], "areas": ["old-town"],
        "hours": [{"days": "mon-fri", "from": "07:00", "to": "19:00"},
                  {"days": "sat", "from": "22:00", "to": "06:00"}], "tz": "Asia/Shanghai"}
    assert (sent[1]["priority"], sent[1]["expires_at"], "scope" in sent[1]) == (1, expires, False)
    refused = [line.split(": ")[:3] for line in err.splitlines() if ": refused: " in line]
    assert refused == [[f"{path}:3", "refused", "bad_priority"],
                       [f"{path}:5", "refused", "bad_scope_time"],
                       [f"{path}:7", "refused", "bad_scope_tz"]]
    assert "2 commands would be sent to vigil.watchlist, 3 refused" in err


@pytest.mark.parametrize("bom", [False, True])
def test_dry_run_of_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               bom: bool) -> None:
    command = {"op": "upsert", "entry_id": "W-1", "list": "l", "subject_type": "plate",
               "key": "AB123", "priority": 1, "legal_basis": "case", "requested_by": "u",
               "expires_at": now_ms() + DAY_MS, "scope": {"areas": ["old-town"]}}
    path = tmp_path / "w.jsonl"
    path.write_bytes((BOM if bom else b"") + dumps(command) + b"\n"
                     + dumps({**command, "scope": {"areas": []}}) + b"\n")
    status, sent, err = dry_run(capsys, path)
    assert (status, sent) == (1, [command])
    assert f"{path}:2: refused: bad_scope_area" in err


def test_a_csv_with_a_bad_header_sends_nothing(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.csv"
    path.write_text("op,entry_id,scope_hour\nupsert,W-1,mon 07:00-08:00\n")
    assert main(["watchlist", "load", str(path), "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown column 'scope_hour'" in err


def test_progress_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file(tmp_path, "upsert,W-1")
    assert main(["watchlist", "load", str(path), "--dry-run", "--progress"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "line 2: 0 accepted, 1 refused, 0 sent" in err
    assert "[########################]" in err  # the whole file was read


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(records(), max_size=30), st.integers(1, 10**6))
def test_a_chunk_gets_each_commands_own_verdict(batch: list, first_line: int) -> None:
    values = [value for value, _, _ in batch]
    numbers = [first_line + 2 * i for i in range(len(values))]  # a blank line between each
    judged = judge_chunk(LineChunk(numbers, values), REFERENCE_MS, TTL_DAYS)
    verdicts = [decode_watchlist_command(v, None, REFERENCE_MS, TTL_DAYS) for v in values]
    kept = [(v, c) for v, c in zip(values, verdicts, strict=True) if not isinstance(c, Rejected)]
    assert judged.values == [v for v, _ in kept]
    assert judged.keys == [c.entry_id.encode() for _, c in kept]
    assert judged.refusals == [(n, f"{c.reason}: {c.detail}")
                               for n, c in zip(numbers, verdicts, strict=True)
                               if isinstance(c, Rejected)]


def command_line(entry: str, **fields: object) -> bytes:
    return dumps({"op": "upsert", "entry_id": entry, "list": "l", "subject_type": "plate",
                  "key": "AB123", "priority": 1, "legal_basis": "case", "requested_by": "u",
                  "expires_at": now_ms() + DAY_MS, **fields})


def test_line_numbers_and_verdicts_hold_across_chunks_and_reads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchlist_load, "DECODED_TOGETHER", 2)
    monkeypatch.setattr(rowfile, "READ_BYTES", 50)  # a read ends mid-line
    good = [command_line(f"W-{i}") for i in range(6)]
    text = (BOM + good[0] + b"\r\n" + b"\n" + b"  \r\n" + command_line("W-x", priority=9)
            + b"\r\n" + good[1] + b"\n" + b"{not json\n" + good[2] + b"\n" + good[3] + b"\n"
            + b"\n" + command_line("W-y", key="") + b"\n" + good[4] + b"\n" + good[5])
    path = tmp_path / "w.jsonl"
    path.write_bytes(text)
    status, sent, err = dry_run(capsys, path)
    assert status == 1
    assert sent == [loads(line) for line in good]  # in file order, without the CR
    refused = [line.split(": ")[:3] for line in err.splitlines() if ": refused: " in line]
    assert refused == [[f"{path}:4", "refused", "bad_priority"],
                       [f"{path}:6", "refused", "bad_json"],
                       [f"{path}:10", "refused", "bad_key"]]
    assert "6 commands would be sent to vigil.watchlist, 3 refused" in err


def test_a_chunk_of_unreadable_csv_rows_only(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchlist_load, "DECODED_TOGETHER", 2)
    path = tmp_path / "w.csv"
    path.write_bytes(b"op,entry_id\nupsert,a,b\nupsert,\xff\nupsert,W-1\n")
    status, sent, err = dry_run(capsys, path)
    assert (status, sent) == (1, [])
    refused = [line.split(": ")[:4] for line in err.splitlines() if ": refused: " in line]
    assert refused == [[f"{path}:2", "refused", "bad_row", "3 cells, more than the 2 columns"],
                       [f"{path}:3", "refused", "bad_row", "line 3 is not UTF-8"],
                       [f"{path}:4", "refused", "missing_field", "list is missing"]]


def test_progress_counts_every_line_of_a_long_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.jsonl"
    lines = [command_line(f"W-{i}") for i in range(2 * watchlist_load.PROGRESS_EVERY_LINES)]
    path.write_bytes(b"\n".join(lines) + b"\n\n")
    assert main(["watchlist", "load", str(path), "--dry-run", "--progress"]) == 0
    _, err = capsys.readouterr()
    assert f"line {len(lines):,}: {len(lines):,} accepted, 0 refused, 0 sent" in err
