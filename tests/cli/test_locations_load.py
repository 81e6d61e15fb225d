"""`vigil locations load` without a broker: CSV rows become commands, --dry-run prints what
would be sent and every refused line with its number and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.locations import command_of_csv_row
from cli.main import _message_key, main
from schemas.json import loads


def test_a_csv_row_becomes_the_contracts_command() -> None:
    row = {"location_id": "C-1", "kind": "camera", "areas": " old-town ; ring-road;;",
           "lat": "37.51", "lon": "122", "name": ""}
    assert command_of_csv_row(row) == {"op": "upsert", "location_id": "C-1", "kind": "camera",
                                       "areas": ["old-town", "ring-road"], "lat": 37.51,
                                       "lon": 122.0}
    assert command_of_csv_row({"op": "delete", "location_id": "C-1"}) == {
        "op": "delete", "location_id": "C-1"}
    # Not numbers: passed on as text, for the decoder to refuse.
    assert command_of_csv_row({"lat": "north", "lon": "nan"})["lon"] == "nan"


def test_dry_run_prints_commands_and_refused_lines(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "locations.csv"
    path.write_text("\ufefflocation_id,kind,areas,lat,lon,name\n"
                    "C-1,camera,old-town;ring-road,37.51,122.12,Ring Rd / Haibin\n"
                    "C-2,drone,old-town,,,\n"
                    "S-000001,sensor,,,,\n"
                    "C-3,camera,Old Town,,,\n"
                    "C-4,camera,x,91,0,\n", encoding="utf-8")
    assert main(["locations", "load", "--dry-run", str(path)]) == 1
    out, err = capsys.readouterr()
    assert [loads(line) for line in out.splitlines()] == [
        {"op": "upsert", "location_id": "C-1", "kind": "camera",
         "areas": ["old-town", "ring-road"], "lat": 37.51, "lon": 122.12,
         "name": "Ring Rd / Haibin"},
        {"op": "upsert", "location_id": "S-000001", "kind": "sensor", "areas": []}]
    refused = [line.split(": ")[:3] for line in err.splitlines() if ": refused: " in line]
    assert refused == [[f"{path}:3", "refused", "bad_kind"], [f"{path}:5", "refused", "bad_area"],
                       [f"{path}:6", "refused", "bad_lat"]]
    assert "2 commands would be sent" in err and "3 refused" in err


def test_dry_run_of_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "locations.jsonl"
    path.write_text('{"op": "delete", "location_id": "C-1"}\nnot json\n', encoding="utf-8")
    assert main(["locations", "load", "--dry-run", str(path)]) == 1
    out, err = capsys.readouterr()
    assert loads(out) == {"op": "delete", "location_id": "C-1"}
    assert f"{path}:2: refused: bad_json" in err


def test_vigil_produce_keys_a_location_command_by_its_id() -> None:
    assert _message_key("locations", b'{"op": "delete", "location_id": "C-1"}') == b"C-1"


def test_a_csv_header_with_an_unknown_column_loads_nothing_and_a_bad_row_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "locations.csv"
    path.write_text("location_id,kind,area\nC-1,camera,old-town\n", encoding="utf-8")
    assert main(["locations", "load", "--dry-run", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown column 'area'" in err
    path.write_text("location_id,kind,areas\nC-1,camera,old-town,extra\nC-2,camera,\n",
                    encoding="utf-8")
    assert main(["locations", "load", "--dry-run", str(path)]) == 1
    out, err = capsys.readouterr()
    assert [loads(line)["location_id"] for line in out.splitlines()] == ["C-2"]
    assert f"{path}:2: refused: bad_row: 4 cells, more than the 3 columns" in err
