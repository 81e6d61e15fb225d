"""Subscribers and editors of the HTTP API: who holds which token hash and may see what.

The file (`access.subscribers_file`) is TOML, one table per principal:

    [[principal]]
    name = "desk-north"
    token_sha256 = "9f86d08..."        # sha256 hex of the bearer token; never the token
    role = "subscriber"                # or "editor": also edits the watchlist
    lists = ["wanted-persons"]         # "*" = every list
    min_priority = 2                   # optional: only priorities 1..2 (1 is the highest)
"""

from __future__ import annotations

import hashlib
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.settings import SettingsError

ROLES = ("subscriber", "editor")
ALL_LISTS = "*"
LOWEST_PRIORITY = 3


def token_hash(token: str) -> str:
    """Return the sha256 hex digest under which a bearer token is configured."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """Return a fresh random bearer token."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Principal:
    """A configured subscriber or editor."""

    name: str
    role: str
    lists: frozenset[str]
    min_priority: int = LOWEST_PRIORITY

    def may_see(self, list_name: str, priority: int) -> bool:
        """Return whether this principal is cleared for a hit of `list_name` at `priority`."""
        cleared = ALL_LISTS in self.lists or list_name in self.lists
        return cleared and priority <= self.min_priority

    def may_edit(self, list_name: str) -> bool:
        """Return whether this principal may change entries of `list_name`."""
        return self.role == "editor" and (ALL_LISTS in self.lists or list_name in self.lists)


@dataclass(frozen=True)
class AccessList:
    """Principals by token hash."""

    by_token_hash: Mapping[str, Principal]

    def principal(self, token: str) -> Principal | None:
        """Return the principal holding `token`, or None."""
        return self.by_token_hash.get(token_hash(token))


def _principal(where: str, item: Any) -> tuple[str, Principal]:
    if not isinstance(item, dict):
        raise SettingsError(f"{where}: expected a table")
    unknown = set(item) - {"name", "token_sha256", "role", "lists", "min_priority"}
    if unknown:
        raise SettingsError(f"{where}: unknown key {sorted(unknown)[0]}")
    name, digest = item.get("name"), item.get("token_sha256")
    role, lists = item.get("role", "subscriber"), item.get("lists")
    min_priority = item.get("min_priority", LOWEST_PRIORITY)
    if not isinstance(name, str) or not name.strip():
        raise SettingsError(f"{where}: name must be a non-empty string")
    where = f"{where} ({name})"
    if not isinstance(digest, str) or len(digest) != 64 or \
            any(c not in "0123456789abcdef" for c in digest):
        raise SettingsError(f"{where}: token_sha256 must be 64 lower-case hex digits")
    if role not in ROLES:
        raise SettingsError(f"{where}: role must be one of {', '.join(ROLES)}")
    if not isinstance(lists, list) or not lists or \
            not all(isinstance(x, str) and x for x in lists):
        raise SettingsError(f"{where}: lists must be a non-empty array of list names or \"*\"")
    if not isinstance(min_priority, int) or isinstance(min_priority, bool) or \
            not 1 <= min_priority <= LOWEST_PRIORITY:
        raise SettingsError(f"{where}: min_priority must be 1-{LOWEST_PRIORITY}")
    return digest, Principal(name, role, frozenset(lists), min_priority)


def parse_access_list(text: str, origin: str) -> AccessList:
    """Parse a subscribers file's text; raise SettingsError naming the first bad principal."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{origin} is not valid TOML: {exc}") from None
    unknown = set(doc) - {"principal"}
    if unknown:
        raise SettingsError(f"{origin}: unknown key {sorted(unknown)[0]}")
    items = doc.get("principal", [])
    by_hash: dict[str, Principal] = {}
    names: set[str] = set()
    for n, item in enumerate(items if isinstance(items, list) else [items], 1):
        digest, principal = _principal(f"{origin}: principal {n}", item)
        if digest in by_hash or principal.name in names:
            raise SettingsError(f"{origin}: principal {n} ({principal.name}): name or token "
                                "used twice")
        by_hash[digest] = principal
        names.add(principal.name)
    return AccessList(by_hash)


def load_access_list(path: str) -> AccessList:
    """Read the subscribers file at `path` (empty path: nobody); raise SettingsError."""
    if not path:
        return AccessList({})
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"access: cannot read {path}: {exc.strerror}") from None
    return parse_access_list(text, path)
