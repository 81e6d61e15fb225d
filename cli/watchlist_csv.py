"""A watchlist command from a CSV row: the columns name the command's fields.

Scope fields are flattened into four columns: `scope_locations` and `scope_areas` hold
`;`-separated lists, `scope_hours` windows such as `mon-fri 07:00-19:00;sat 22:00-06:00`,
and `scope_tz` the zone. An empty cell is an absent field. `priority` and `expires_at`
holding an integer become numbers (`expires_at` may also be RFC 3339 text).

Nothing is judged here: a cell that does not convert is passed on as it is, so that
`decode_watchlist_command` refuses it with the same reason as on the topic.
"""

from __future__ import annotations

import re
from typing import Any

COMMAND_COLUMNS = ("op", "entry_id", "list", "subject_type", "id_type", "doc_type", "key",
                   "match", "priority", "legal_basis", "requested_by", "expires_at", "reason")
SCOPE_COLUMNS = ("scope_locations", "scope_areas", "scope_hours", "scope_tz")
COLUMNS = COMMAND_COLUMNS + SCOPE_COLUMNS
INTEGER_COLUMNS = ("priority", "expires_at")
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")


def _items(cell: str) -> list[str]:
    # Spaces around items and a trailing `;` are spreadsheet habits, not part of a name.
    return [item.strip() for item in cell.split(";") if item.strip()]


def hours_window(text: str) -> dict[str, str]:
    """Return `DAYS HH:MM-HH:MM` as a window object; a part that is missing is left out."""
    days, _, span = text.strip().rpartition(" ")
    start, _, end = span.partition("-")
    window = {"days": days.strip(), "from": start, "to": end}
    return {k: v for k, v in window.items() if v}


def command_of_row(cells: dict[str, str]) -> dict[str, Any]:
    """Return the watchlist command a CSV row (non-empty cells by column) stands for."""
    command: dict[str, Any] = {}
    scope: dict[str, Any] = {}
    for column, cell in cells.items():
        if column in INTEGER_COLUMNS and _INTEGER.fullmatch(cell):
            command[column] = int(cell)
        elif column == "scope_hours":
            scope["hours"] = [hours_window(item) for item in _items(cell)]
        elif column == "scope_tz":
            scope["tz"] = cell.strip()
        elif column in SCOPE_COLUMNS:
            scope[column.removeprefix("scope_")] = _items(cell)
        else:
            command[column] = cell
    if scope:
        command["scope"] = scope
    return command
