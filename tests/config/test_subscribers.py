"""The subscribers file: hashed tokens, roles, lists, priorities, and its errors."""

from __future__ import annotations

import pytest

from config.settings import SettingsError
from config.subscribers import parse_access_list, token_hash


def principal(name: str, token: str, **extra: str) -> str:
    lines = [f'name = "{name}"', f'token_sha256 = "{token_hash(token)}"',
             'lists = ["wanted-persons"]', *(f"{k} = {v}" for k, v in extra.items())]
    return "[[principal]]\n" + "\n".join(lines) + "\n"


def test_tokens_resolve_by_hash_to_their_principal() -> None:
    access = parse_access_list(principal("a", "t-a") + principal("b", "t-b", min_priority="1",
                                                                  role='"editor"'), "f")
    a, b = access.principal("t-a"), access.principal("t-b")
    assert (a.name, a.role, b.name, b.role) == ("a", "subscriber", "b", "editor")
    assert access.principal("t-c") is None


def test_clearance_is_by_list_and_minimum_priority() -> None:
    access = parse_access_list(principal("a", "t", min_priority="2"), "f")
    p = access.principal("t")
    assert p.may_see("wanted-persons", 1) and p.may_see("wanted-persons", 2)
    assert not p.may_see("wanted-persons", 3) and not p.may_see("stolen-vehicles", 1)
    assert not p.may_edit("wanted-persons")


def test_star_means_every_list() -> None:
    text = principal("a", "t", role='"editor"').replace('["wanted-persons"]', '["*"]')
    p = parse_access_list(text, "f").principal("t")
    assert p.may_see("anything", 3) and p.may_edit("anything")


@pytest.mark.parametrize(("text", "message"), [
    (principal("a", "t", role='"admin"'), "role must be one of"),
    (principal("a", "t", min_priority="4"), "min_priority must be 1-3"),
    (principal("a", "t").replace(token_hash("t"), "secret"), "token_sha256 must be"),
    (principal("a", "t").replace('["wanted-persons"]', "[]"), "lists must be"),
    (principal("a", "t") + principal("a", "u"), "used twice"),
    (principal("a", "t", colour='"red"'), "unknown key colour"),
    ("[[principal", "not valid TOML"),
])
def test_bad_files_are_refused_naming_the_principal(text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_access_list(text, "subs.toml")
