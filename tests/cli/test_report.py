"""`vigil report precision` without a broker: the --since forms, the table, the JSON and the
plot (the end-to-end run is in tests/integration/test_precision_report.py)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from cli.main import main
from cli.precision_plot import INSTALL_HINT, PlotUnavailable, check_plotting, plot_precision
from cli.report import format_table, parse_since, report_json
from schemas.json import dumps, loads
from tables.precision import DispositionsInForce, precision_rows, read_disposition

NOW = 1_795_000_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", NOW - 30 * 60_000),
    ("12h", NOW - 12 * 3_600_000),
    ("7d", NOW - 7 * 86_400_000),
    ("2w", NOW - 14 * 86_400_000),
    ("1795000000123", 1_795_000_000_123),
    ("2026-12-01", 1_796_083_200_000),
    ("2026-12-01T08:00:00+08:00", 1_796_083_200_000),
    ("2026-12-01T00:00:00.5Z", 1_796_083_200_500),
])
def test_since_takes_a_duration_a_date_a_time_or_epoch_ms(text: str, expected: int) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "7y", "-7d", "2026-12-01T08:00:00", "yesterday",
                                  "٧d", "2026-13-01"])
def test_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_since(text, NOW)


def test_a_bad_since_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", "precision", "--since", "last week"])
    assert exit_.value.code == 2
    assert "not a time: 'last week'" in capsys.readouterr().err


def rows():
    in_force = DispositionsInForce()
    for n, (list_name, match, outcome, reason) in enumerate([
            ("stolen-vehicles", "exact", "confirmed", None),
            ("stolen-vehicles", "exact", "confirmed", None),
            ("stolen-vehicles", "exact", "false_positive", "misread"),
            ("stolen-vehicles", "ocr-tolerant", "false_positive", "cloned_or_copied"),
            ("wanted-persons", "exact", "no_action", None)]):
        in_force.add(read_disposition({"hit_id": f"h-{n}", "list": list_name, "match": match,
                                       "outcome": outcome, "reason": reason, "at": NOW}))
    return precision_rows(in_force.since(None), {("stolen-vehicles", "exact"): 12,
                                                 ("wanted-persons", "exact"): 1})


def test_the_table_is_aligned_with_a_heading_and_a_legend() -> None:
    text = format_table(rows(), NOW - 7 * 86_400_000)
    lines = text.splitlines()
    assert lines[0] == ("Precision per list and match rule, dispositions in force since "
                        "2026-11-11T11:06:40Z")
    header, *body, legend = lines[1:]
    assert header.split() == ["list", "match", "hits", "disposed", "confirmed", "false_pos",
                              "misread", "wrong_subj", "cloned", "duplicate", "other",
                              "no_action", "precision"]
    assert [line.split() for line in body] == [
        ["stolen-vehicles", "exact", "12", "3", "2", "1", "1", "0", "0", "0", "0", "0", "66.7%"],
        ["stolen-vehicles", "ocr-tolerant", "0", "1", "0", "1", "0", "0", "1", "0", "0", "0",
         "0.0%"],
        ["wanted-persons", "exact", "1", "1", "0", "0", "0", "0", "0", "0", "0", "1", "-"],
    ]
    # Numbers are right-aligned: every row's precision ends in the same column.
    assert len({len(line) for line in [header, *body]}) == 1
    assert "no_action is left out" in legend and "cloned = cloned_or_copied" in legend


def test_an_empty_report_says_so() -> None:
    assert format_table([], None) == ("Precision per list and match rule, dispositions in "
                                      "force all recorded\nno dispositions\n")


def test_the_json_report_round_trips() -> None:
    report = loads(dumps(report_json(rows(), NOW, 2)))
    assert report["since_ms"] == NOW and report["skipped_records"] == 2
    assert [(r["list"], r["match"], r["precision"]) for r in report["rows"]] == [
        ("stolen-vehicles", "exact", pytest.approx(2 / 3)),
        ("stolen-vehicles", "ocr-tolerant", 0.0), ("wanted-persons", "exact", None)]


def png_size(path: Path) -> tuple[int, int]:
    """Return (width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_plot_is_a_png_with_one_bar_per_row(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "precision.png"
    plot_precision(rows(), out, threshold=0.5)
    width, height = png_size(out)
    assert (width, height) == (600, 450)  # 6 x 4.5 inches at 100 dpi: three rows fit the minimum
    assert out.stat().st_size > 10_000  # bars, labels and text, not an empty canvas


def test_without_matplotlib_the_plot_says_how_to_install_it(monkeypatch, tmp_path: Path,
                                                            capsys) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    with pytest.raises(PlotUnavailable, match=r"pip install 'vigil\[report\]'"):
        check_plotting()
    # Checked before any topic is read: the command stops at once, without a broker.
    out = tmp_path / "p.png"
    assert main(["report", "precision", "--plot", str(out)]) == 2
    assert INSTALL_HINT in capsys.readouterr().err
    assert not out.exists()
