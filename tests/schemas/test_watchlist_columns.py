"""Column checks against the per-value rules they stand for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.identifiers import identifier_problem
from schemas.watchlist_columns import failing_ids

# ASCII (the plain ids of a bulk load, and what makes one refused: a space at an end, `/`,
# `%`, control characters, an empty or a long id), and some of the rest of Unicode.
id_texts = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=70) | st.text(
    alphabet=st.sampled_from(["a", "Z", "9", "-", " ", "\u3000", "é", "\u200b", "/"]),
    max_size=8)


@settings(max_examples=500, deadline=None, database=None)
@given(st.lists(id_texts, max_size=6), st.lists(st.from_regex(r"[!-~]{1,64}", fullmatch=True)
                                                .filter(lambda s: not set(s) & set("/%")),
                                                max_size=6))
def test_failing_ids_are_those_the_identifier_rule_refuses(any_ids: list[str],
                                                           plain_ids: list[str]) -> None:
    for ids in (any_ids, plain_ids, plain_ids + any_ids):
        assert failing_ids(ids) == {j for j, v in enumerate(ids)
                                    if identifier_problem(v) is not None}
