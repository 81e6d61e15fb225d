"""Hypothesis strategies of entry scopes, for the codec and scope-check property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from schemas.scope import HoursWindow, Scope, canonical_hours

# With and without daylight saving; Lord Howe moves by 30 minutes, Kathmandu is +05:45.
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe",
         "Asia/Kathmandu")
location_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"),
                           blacklist_characters="/%"),
    min_size=1, max_size=64).filter(lambda s: s == s.strip())
area_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,63}", fullmatch=True)


@st.composite
def hours_windows(draw: st.DrawFn) -> HoursWindow:
    """A window on some days, within a day or across midnight (`to` may be 24:00)."""
    from_min = draw(st.integers(0, 1439))
    to_min = draw(st.integers(1, 1440).filter(lambda t: t != from_min))
    return HoursWindow(from_min, to_min, draw(st.integers(1, 127)))


@st.composite
def scopes(draw: st.DrawFn, places: bool = True) -> Scope:
    """A canonical scope that limits something; places=False: hours only."""
    locations = draw(st.lists(location_ids, max_size=5)) if places else []
    areas = draw(st.lists(area_names, max_size=3)) if places else []
    hours = draw(st.lists(hours_windows(), min_size=0 if locations or areas else 1, max_size=6))
    return Scope(tuple(sorted(set(locations))), tuple(sorted(set(areas))),
                 canonical_hours(hours), draw(st.sampled_from(ZONES)))
