"""Fixtures for the schemas tests: a reason-label guard and a national-id factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from schemas.rejection import REASONS, Rejected


@pytest.fixture(autouse=True)
def only_known_reasons(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail any test during which a Rejected was built with a reason not in REASONS.

    Reasons are metric labels and dead-letter fields: an undeclared one would slip past
    dashboards and alerts, so every Rejected any test provokes is checked here.
    """
    seen: list[str] = []
    original = Rejected.__init__

    def recording_init(self: Rejected, reason: str, *args: object, **kwargs: object) -> None:
        seen.append(reason)
        original(self, reason, *args, **kwargs)

    monkeypatch.setattr(Rejected, "__init__", recording_init)
    yield seen
    unknown = sorted(set(seen) - REASONS)
    assert not unknown, f"reasons missing from REASONS: {unknown}"


def _check_char(first17: str) -> str:
    # GB 11643 spelt from its definition: weight of position i (1-based) is 2**(18-i) mod 11,
    # check value (12 - sum mod 11) mod 11 with 10 written X.
    total = sum(int(ch) * pow(2, 17 - i, 11) for i, ch in enumerate(first17))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


@pytest.fixture(scope="session")
def national_id() -> Callable[[str], str]:
    """Return a factory completing 17 digits with their GB 11643 check character."""

    def make(first17: str) -> str:
        assert len(first17) == 17 and first17.isascii() and first17.isdigit()
        return first17 + _check_char(first17)

    return make
