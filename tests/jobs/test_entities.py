"""Entity-level projects (FR-020): an entity is known by a key that survives the ways a
document spells its name, and the entities each chunk names merge into one list."""

from __future__ import annotations

import pytest

from server.jobs.entities import Entity, entity_key, merge_entities


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("City of Ghent", "city of ghent"),
        ("  The   City of\nGhent. ", "city of ghent"),
        ("THE CITY OF GHENT", "city of ghent"),
        ("\u201cAcme Corp.\u201d", "acme corp"),
        ("(Ghent)", "ghent"),
        ("Ghent (Belgium)", "ghent (belgium)"),
        ("\uff21\uff23\uff2d\uff25 \u2160", "acme i"),  # full-width letters, Roman numeral one
        ("Theodore Roosevelt", "theodore roosevelt"),
        ("The", "the"),
        ("Stra\u00dfenbau GmbH", "strassenbau gmbh"),
        ("$100 Club", "$100 club"),
        (" \u2014 ", ""),
        ("", ""),
    ],
)
def test_the_key_of_an_entity_name(name: str, key: str) -> None:
    assert entity_key(name) == key


def test_a_key_is_at_most_500_characters() -> None:
    key = entity_key("Committee " * 100)
    assert len(key) <= 500
    assert key == key.strip()
    assert key.startswith("committee committee")


def test_entities_named_in_several_chunks_merge_in_order_of_first_appearance() -> None:
    chunk_one = [
        ("Mayor Jan Peeters", "Mayor Jan Peeters opened the meeting."),
        ("The Greens", "The Greens asked for a roll-call vote."),
    ]
    chunk_two = [
        ("the greens", "the greens voted against"),
        ("Alderman De Smet", "Alderman De Smet presented the budget."),
        ("mayor jan peeters", "mayor jan peeters closed the meeting"),
    ]
    chunk_three = [("Alderman  De Smet.", "De Smet replied")]

    assert merge_entities([chunk_one, chunk_two, chunk_three]) == [
        Entity("mayor jan peeters", "Mayor Jan Peeters", "Mayor Jan Peeters opened the meeting."),
        Entity("greens", "The Greens", "The Greens asked for a roll-call vote."),
        Entity("alderman de smet", "Alderman De Smet", "Alderman De Smet presented the budget."),
    ]


def test_blank_names_are_dropped_and_a_missing_quote_is_filled_by_a_later_mention() -> None:
    entities = merge_entities(
        [
            [("", "an empty name"), ("  ", None), ("Oostkerke", " ")],
            [("OOSTKERKE", "the municipality of Oostkerke"), ("...", "punctuation only")],
        ]
    )
    assert entities == [Entity("oostkerke", "Oostkerke", "the municipality of Oostkerke")]


def test_no_chunks_no_entities() -> None:
    assert merge_entities([]) == []
    assert merge_entities([[], []]) == []
